// IOMMUWireRequests: the device-readable parts of the requests ([VIRTIO] 5.13.6), decoded field by field,
// little-endian. Each struct starts after `virtio_iommu_req_head`; its `size` is the bytes it reads.
import Wire

/// `virtio_iommu_req_head`: type and 3 reserved bytes the device MUST ignore (IOMMU-6.1).
struct ReqHead: Equatable {
    static let size = 4
    var type: UInt8
    init(from r: inout WireReader) throws(WireError) {
        type = try r.read()
        try r.skip(3)    // reserved: ignored
    }
}

/// `virtio_iommu_req_tail`: written by the device, reserved bytes zero (IOMMU-6.1).
enum ReqTail {
    static let size = 4
    static func bytes(_ status: IOMMUStatus) -> [UInt8] { [status.rawValue, 0, 0, 0] }
}

/// `virtio_iommu_req_attach` without head and tail.
struct AttachRequest: Equatable {
    static let size = 16
    var domain: UInt32
    var endpoint: UInt32
    var flags: UInt32
    var reserved: [UInt8]    // 4 bytes; must be zero (IOMMU-6.2)
    init(from r: inout WireReader) throws(WireError) {
        domain = try r.read()
        endpoint = try r.read()
        flags = try r.read()
        reserved = try r.readBytes(4)
    }
}

/// `virtio_iommu_req_detach` without head and tail.
struct DetachRequest: Equatable {
    static let size = 16
    var domain: UInt32
    var endpoint: UInt32
    init(from r: inout WireReader) throws(WireError) {
        domain = try r.read()
        endpoint = try r.read()
        try r.skip(8)    // reserved: "The device MUST ignore reserved" (IOMMU-6.3)
    }
}

/// `virtio_iommu_req_map` without head and tail.
struct MapRequest: Equatable {
    static let size = 32
    var domain: UInt32
    var virtStart: UInt64
    var virtEnd: UInt64
    var physStart: UInt64
    var flags: UInt32
    init(from r: inout WireReader) throws(WireError) {
        domain = try r.read()
        virtStart = try r.read()
        virtEnd = try r.read()
        physStart = try r.read()
        flags = try r.read()
    }
}

/// `virtio_iommu_req_unmap` without head and tail.
struct UnmapRequest: Equatable {
    static let size = 24
    var domain: UInt32
    var virtStart: UInt64
    var virtEnd: UInt64
    var reserved: [UInt8]    // 4 bytes
    init(from r: inout WireReader) throws(WireError) {
        domain = try r.read()
        virtStart = try r.read()
        virtEnd = try r.read()
        reserved = try r.readBytes(4)
    }
}

/// `virtio_iommu_req_probe`, device-readable part without head.
struct ProbeRequest: Equatable {
    static let size = 68
    var endpoint: UInt32
    init(from r: inout WireReader) throws(WireError) {
        endpoint = try r.read()
        try r.skip(64)   // reserved: "The device MUST ignore field reserved of a PROBE request" (IOMMU-6.6)
    }
}

extension IOMMURequestType {
    /// Bytes of the device-readable part after the head.
    var payloadSize: Int {
        switch self {
        case .attach: AttachRequest.size
        case .detach: DetachRequest.size
        case .map: MapRequest.size
        case .unmap: UnmapRequest.size
        case .probe: ProbeRequest.size
        }
    }
}
