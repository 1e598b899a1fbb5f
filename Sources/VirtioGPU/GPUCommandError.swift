// GPUCommandError: why a command was refused, mapped to its wire response type in exactly one place.

struct GPUCommandError: Error, Equatable {
    enum Kind: Equatable {
        case unspec                 // VIRTIO_GPU_RESP_ERR_UNSPEC
        case outOfMemory            // VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY
        case invalidScanoutID       // VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID
        case invalidResourceID      // VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID
        case invalidParameter       // VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER
    }
    var kind: Kind
    /// For the (rate-limited) log line: what the guest did wrong.
    var reason: String

    static func unspec(_ reason: String) -> Self { .init(kind: .unspec, reason: reason) }
    static func outOfMemory(_ reason: String) -> Self { .init(kind: .outOfMemory, reason: reason) }
    static func invalidScanoutID(_ id: UInt32) -> Self { .init(kind: .invalidScanoutID, reason: "scanout \(id)") }
    static func invalidResourceID(_ id: UInt32, _ why: String = "unknown") -> Self {
        .init(kind: .invalidResourceID, reason: "resource \(id): \(why)")
    }
    static func invalidParameter(_ reason: String) -> Self { .init(kind: .invalidParameter, reason: reason) }

    var response: GPUResponseType {
        switch kind {
        case .unspec: .errUnspec
        case .outOfMemory: .errOutOfMemory
        case .invalidScanoutID: .errInvalidScanoutID
        case .invalidResourceID: .errInvalidResourceID
        case .invalidParameter: .errInvalidParameter
        }
    }
}
