// IOMMUEvents: what the device writes besides the tail: the fault report sent on the eventq (IOMMU-6.8) and the
// RESV_MEM probe property (IOMMU-6.7).
import Wire

/// `struct virtio_iommu_fault`: one refused access, as reported on the eventq.
public struct IOMMUFault: Equatable, Sendable {
    /// Bytes of one report; an eventq buffer smaller than this gets no report (fault reporting: never split across buffers).
    public static let size = 24
    public var reason: IOMMUFaultReason
    /// VIRTIO_IOMMU_FAULT_F_READ / _WRITE, and _ADDRESS (always set: Vireo always knows the address).
    public var flags: UInt32
    public var endpoint: UInt32
    public var address: UInt64

    public init(reason: IOMMUFaultReason, access: IOMMUAccess, endpoint: UInt32, address: UInt64) {
        self.reason = reason
        flags = (access == .read ? IOMMUFaultFlags.read : IOMMUFaultFlags.write) | IOMMUFaultFlags.address
        self.endpoint = endpoint
        self.address = address
    }

    /// IOMMU-6.8: reserved and reserved1 zero, no undefined flag, a valid endpoint, the address.
    public var bytes: [UInt8] {
        var w = WireWriter(capacity: Self.size)
        w.write(reason.rawValue)
        w.write(zeros: 3)            // reserved
        w.write(flags)
        w.write(endpoint)
        w.write(UInt32(0))           // reserved1
        w.write(address)
        return w.bytes
    }
}

/// The direction of a device access, as the fault report names it.
public enum IOMMUAccess: Sendable, Equatable { case read, write }

/// A reserved IOVA region of an endpoint, reported by PROBE and never mappable (IOMMU-6.7).
public struct IOMMUReservedRegion: Equatable, Sendable {
    public var subtype: IOMMUResvMemSubtype
    public var range: IOVARange
    public init(subtype: IOMMUResvMemSubtype, range: IOVARange) {
        self.subtype = subtype
        self.range = range
    }

    /// The x86 MSI doorbell, 0xfee00000-0xfeefffff.
    public static let x86MSIDoorbell = IOMMUReservedRegion(
        subtype: .msi, range: IOVARange(first: 0xfee0_0000, last: 0xfeef_ffff)!)

    /// `virtio_iommu_probe_resv_mem` with its property header: 4 + 20 bytes.
    static let propertySize = 24

    /// IOMMU-6.6: length is the size without the header; reserved bits of the header and the property are zero.
    var propertyBytes: [UInt8] {
        var w = WireWriter(capacity: Self.propertySize)
        w.write(IOMMUProbeProperty.resvMem)        // type: 12 bits, reserved: 4 bits (zero)
        w.write(UInt16(Self.propertySize - 4))     // length
        w.write(subtype.rawValue)
        w.write(zeros: 3)                          // reserved
        w.write(range.first)                       // start
        w.write(range.last)                        // end (inclusive)
        return w.bytes
    }
}
