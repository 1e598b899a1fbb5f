// IOMMUProtocol: the virtio-iommu constants ([VIRTIO] 5.13, [VIRTIO-IOMMU] 2.x): device id, queues, feature bits,
// request types, status codes, flags and property types. Names keep the spec's, in Swift case.

public enum IOMMUConstants {
    /// IOMMU-1: [VIRTIO-IOMMU] 2.1 device ID.
    public static let deviceID: UInt32 = 23
    /// IOMMU-2: [VIRTIO-IOMMU] 2.2 virtqueues.
    public static let requestQueue = 0
    public static let eventQueue = 1
    public static let queueCount = 2
}

/// IOMMU-3: [VIRTIO-IOMMU] 2.3 feature bits (as masks).
public enum IOMMUFeatures {
    public static let inputRange: UInt64 = 1 << 0      // VIRTIO_IOMMU_F_INPUT_RANGE
    public static let domainRange: UInt64 = 1 << 1     // VIRTIO_IOMMU_F_DOMAIN_RANGE
    public static let mapUnmap: UInt64 = 1 << 2        // VIRTIO_IOMMU_F_MAP_UNMAP
    public static let bypass: UInt64 = 1 << 3          // VIRTIO_IOMMU_F_BYPASS (legacy, superseded)
    public static let probe: UInt64 = 1 << 4           // VIRTIO_IOMMU_F_PROBE
    public static let mmio: UInt64 = 1 << 5            // VIRTIO_IOMMU_F_MMIO
    public static let bypassConfig: UInt64 = 1 << 6    // VIRTIO_IOMMU_F_BYPASS_CONFIG

    /// IOMMU-3: Vireo offers every bit it implements. 2.3: "New devices SHOULD NOT offer VIRTIO_IOMMU_F_BYPASS"
    /// and never both BYPASS and BYPASS_CONFIG, so the legacy bit is left out.
    public static let offered: UInt64 = inputRange | domainRange | mapUnmap | probe | mmio | bypassConfig
}

/// `virtio_iommu_req_head.type`.
public enum IOMMURequestType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case attach = 1    // VIRTIO_IOMMU_T_ATTACH
    case detach = 2    // VIRTIO_IOMMU_T_DETACH
    case map = 3       // VIRTIO_IOMMU_T_MAP
    case unmap = 4     // VIRTIO_IOMMU_T_UNMAP
    case probe = 5     // VIRTIO_IOMMU_T_PROBE

    public var description: String {
        switch self {
        case .attach: "ATTACH"
        case .detach: "DETACH"
        case .map: "MAP"
        case .unmap: "UNMAP"
        case .probe: "PROBE"
        }
    }
}

/// `virtio_iommu_req_tail.status`.
public enum IOMMUStatus: UInt8, Sendable, CaseIterable {
    case ok = 0        // VIRTIO_IOMMU_S_OK
    case ioErr = 1     // VIRTIO_IOMMU_S_IOERR
    case unsupp = 2    // VIRTIO_IOMMU_S_UNSUPP
    case devErr = 3    // VIRTIO_IOMMU_S_DEVERR
    case inval = 4     // VIRTIO_IOMMU_S_INVAL
    case range = 5     // VIRTIO_IOMMU_S_RANGE
    case noEnt = 6     // VIRTIO_IOMMU_S_NOENT
    case fault = 7     // VIRTIO_IOMMU_S_FAULT
    case noMem = 8     // VIRTIO_IOMMU_S_NOMEM
}

/// `virtio_iommu_req_map.flags`: protection bits and the MMIO memory type. Kept with every mapping.
public struct IOMMUMapFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let read = IOMMUMapFlags(rawValue: 1 << 0)     // VIRTIO_IOMMU_MAP_F_READ
    public static let write = IOMMUMapFlags(rawValue: 1 << 1)    // VIRTIO_IOMMU_MAP_F_WRITE
    public static let mmio = IOMMUMapFlags(rawValue: 1 << 2)     // VIRTIO_IOMMU_MAP_F_MMIO
}

/// `virtio_iommu_req_attach.flags`.
public enum IOMMUAttachFlags {
    public static let bypass: UInt32 = 1 << 0         // VIRTIO_IOMMU_ATTACH_F_BYPASS
}

/// `virtio_iommu_fault.reason`.
public enum IOMMUFaultReason: UInt8, Sendable {
    case unknown = 0   // VIRTIO_IOMMU_FAULT_R_UNKNOWN
    case domain = 1    // VIRTIO_IOMMU_FAULT_R_DOMAIN
    case mapping = 2   // VIRTIO_IOMMU_FAULT_R_MAPPING
}

/// `virtio_iommu_fault.flags`.
public enum IOMMUFaultFlags {
    public static let read: UInt32 = 1 << 0            // VIRTIO_IOMMU_FAULT_F_READ
    public static let write: UInt32 = 1 << 1           // VIRTIO_IOMMU_FAULT_F_WRITE
    public static let address: UInt32 = 1 << 8         // VIRTIO_IOMMU_FAULT_F_ADDRESS
}

/// PROBE property types and RESV_MEM subtypes.
public enum IOMMUProbeProperty {
    public static let none: UInt16 = 0                 // VIRTIO_IOMMU_PROBE_T_NONE (ends the list)
    public static let resvMem: UInt16 = 1              // VIRTIO_IOMMU_PROBE_T_RESV_MEM
}

public enum IOMMUResvMemSubtype: UInt8, Sendable {
    case reserved = 0  // VIRTIO_IOMMU_RESV_MEM_T_RESERVED
    case msi = 1       // VIRTIO_IOMMU_RESV_MEM_T_MSI
}
