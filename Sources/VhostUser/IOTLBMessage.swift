// IOTLBMessage: `struct vhost_iotlb_msg` as vhost-user carries it (VHOST_USER_IOTLB_MSG from the frontend,
// VHOST_USER_BACKEND_IOTLB_MSG on the backend channel): 32 bytes with the struct's trailing padding.
import Wire

public struct IOTLBMessage: Equatable, Sendable {
    public static let size = 32
    public enum MessageType: UInt8, Sendable {
        case miss = 1, update = 2, invalidate = 3, accessFail = 4
    }
    public var iova: UInt64
    public var size: UInt64
    public var userAddr: UInt64       // uaddr: a frontend virtual address
    public var perm: UInt8            // VHOST_ACCESS_RO 1, WO 2, RW 3
    public var type: UInt8

    public init(iova: UInt64, size: UInt64, userAddr: UInt64, perm: UInt8, type: MessageType) {
        self.iova = iova; self.size = size; self.userAddr = userAddr; self.perm = perm; self.type = type.rawValue
    }
    public init(from r: inout WireReader) throws(WireError) {
        iova = try r.read(); size = try r.read(); userAddr = try r.read(); perm = try r.read(); type = try r.read()
        try r.skip(6)
    }
    public var encoded: [UInt8] {
        var w = WireWriter(capacity: 32)
        w.write(iova); w.write(size); w.write(userAddr); w.write(perm); w.write(type); w.write(zeros: 6)
        return w.bytes
    }
}

/// Backend-initiated requests (VHOST_USER_BACKEND_*), sent on the channel from SET_BACKEND_REQ_FD.
public enum VhostUserBackendRequest: UInt32, Sendable {
    case iotlbMsg = 1, configChangeMsg = 2, vringHostNotifierMsg = 3
}
