// vhost-user frontend messages (QEMU docs/interop/vhost-user.rst): request codes, feature bits and payload structs,
// each decoded and validated from bytes before anything acts on it.
import Wire

public enum VhostUserRequest: UInt32, Sendable, CaseIterable {
    case getFeatures = 1, setFeatures = 2, setOwner = 3, resetOwner = 4, setMemTable = 5, setLogBase = 6
    case setLogFD = 7, setVringNum = 8, setVringAddr = 9, setVringBase = 10, getVringBase = 11
    case setVringKick = 12, setVringCall = 13, setVringErr = 14, getProtocolFeatures = 15
    case setProtocolFeatures = 16, getQueueNum = 17, setVringEnable = 18, sendRARP = 19, netSetMTU = 20
    case setBackendReqFD = 21, iotlbMsg = 22, setVringEndian = 23, getConfig = 24, setConfig = 25
    case createCryptoSession = 26, closeCryptoSession = 27, postcopyAdvise = 28, postcopyListen = 29
    case postcopyEnd = 30, getInflightFD = 31, setInflightFD = 32, gpuSetSocket = 33, resetDevice = 34
    case vringKick = 35, getMaxMemSlots = 36, addMemReg = 37, remMemReg = 38, setStatus = 39, getStatus = 40
}

/// vhost-user protocol feature bits (VHOST_USER_PROTOCOL_F_*).
public enum VhostUserProtocolFeature: UInt64, Sendable {
    case mq = 0, logShmfd = 1, rarp = 2, replyAck = 3, mtu = 4, backendReq = 5, crossEndian = 6
    case cryptoSession = 7, pagefault = 8, config = 9, backendSendFD = 10, hostNotifier = 11
    case inflightShmfd = 12, resetDevice = 13, inbandNotifications = 14, configureMemSlots = 15, status = 16
    public var mask: UInt64 { 1 << rawValue }
}

/// Virtio and vhost-user feature bits this backend deals with.
public enum FeatureBit {
    public static let indirectDesc: UInt64 = 1 << 28      // VIRTIO_RING_F_INDIRECT_DESC
    public static let eventIdx: UInt64 = 1 << 29          // VIRTIO_RING_F_EVENT_IDX
    public static let protocolFeatures: UInt64 = 1 << 30  // VHOST_USER_F_PROTOCOL_FEATURES
    public static let version1: UInt64 = 1 << 32          // VIRTIO_F_VERSION_1
    public static let accessPlatform: UInt64 = 1 << 33    // VIRTIO_F_ACCESS_PLATFORM
}

public struct VhostUserHeader: Equatable, Sendable {
    public static let size = 12
    public static let versionMask: UInt32 = 0x3
    public static let version: UInt32 = 0x1
    public static let replyFlag: UInt32 = 0x4
    public static let needReplyFlag: UInt32 = 0x8
    /// Largest payload accepted: SET_MEM_TABLE with 8 regions is 264 bytes, GET/SET_CONFIG at most 268.
    public static let maxPayload: UInt32 = 4096

    public var request: UInt32
    public var flags: UInt32
    public var size: UInt32
    public init(request: UInt32, flags: UInt32, size: UInt32) {
        self.request = request; self.flags = flags; self.size = size
    }
    public init(from r: inout WireReader) throws(WireError) {
        request = try r.read(); flags = try r.read(); size = try r.read()
    }
    public var encoded: [UInt8] {
        var w = WireWriter(capacity: 12)
        w.write(request); w.write(flags); w.write(size)
        return w.bytes
    }
    public var needsReply: Bool { flags & Self.needReplyFlag != 0 }
}

/// `struct vhost_vring_state`.
public struct VringState: Equatable, Sendable {
    public static let size = 8
    public var index: UInt32
    public var num: UInt32
    public init(index: UInt32, num: UInt32) { self.index = index; self.num = num }
    public init(from r: inout WireReader) throws(WireError) { index = try r.read(); num = try r.read() }
    public var encoded: [UInt8] { var w = WireWriter(); w.write(index); w.write(num); return w.bytes }
}

/// `struct vhost_vring_addr`: addresses are frontend virtual addresses (or IOVAs with ACCESS_PLATFORM).
public struct VringAddr: Equatable, Sendable {
    public static let size = 40
    public var index: UInt32
    public var flags: UInt32
    public var descUserAddr: UInt64
    public var usedUserAddr: UInt64
    public var availUserAddr: UInt64
    public var logGuestAddr: UInt64
    public init(index: UInt32, flags: UInt32, descUserAddr: UInt64, usedUserAddr: UInt64, availUserAddr: UInt64,
                logGuestAddr: UInt64) {
        self.index = index; self.flags = flags; self.descUserAddr = descUserAddr; self.usedUserAddr = usedUserAddr
        self.availUserAddr = availUserAddr; self.logGuestAddr = logGuestAddr
    }
    public init(from r: inout WireReader) throws(WireError) {
        index = try r.read(); flags = try r.read(); descUserAddr = try r.read(); usedUserAddr = try r.read()
        availUserAddr = try r.read(); logGuestAddr = try r.read()
    }
    public var encoded: [UInt8] {
        var w = WireWriter()
        w.write(index); w.write(flags); w.write(descUserAddr); w.write(usedUserAddr); w.write(availUserAddr)
        w.write(logGuestAddr)
        return w.bytes
    }
}

/// `VhostUserMemoryRegion`.
public struct VhostUserMemoryRegion: Equatable, Sendable {
    public static let size = 32
    public var guestPhysAddr: UInt64
    public var memorySize: UInt64
    public var userspaceAddr: UInt64
    public var mmapOffset: UInt64
    public init(guestPhysAddr: UInt64, memorySize: UInt64, userspaceAddr: UInt64, mmapOffset: UInt64) {
        self.guestPhysAddr = guestPhysAddr; self.memorySize = memorySize
        self.userspaceAddr = userspaceAddr; self.mmapOffset = mmapOffset
    }
    public init(from r: inout WireReader) throws(WireError) {
        guestPhysAddr = try r.read(); memorySize = try r.read(); userspaceAddr = try r.read(); mmapOffset = try r.read()
    }
    public func encode(into w: inout WireWriter) {
        w.write(guestPhysAddr); w.write(memorySize); w.write(userspaceAddr); w.write(mmapOffset)
    }
}

/// `VhostUserMemory` (SET_MEM_TABLE): nregions then that many regions, one fd each.
public struct VhostUserMemory: Equatable, Sendable {
    public static let maxRegions = 8   // VHOST_MEMORY_BASELINE_NREGIONS
    public var regions: [VhostUserMemoryRegion]
    public init(regions: [VhostUserMemoryRegion]) { self.regions = regions }
    public init(from r: inout WireReader) throws(VhostUserError) {
        do {
            let n: UInt32 = try r.read()
            _ = try r.read(UInt32.self)  // padding
            guard n >= 1, n <= UInt32(Self.maxRegions) else { throw VhostUserError.badRegionCount(n) }
            guard r.remaining == Int(n) * VhostUserMemoryRegion.size else {
                throw VhostUserError.badPayloadSize(request: 5, size: UInt32(r.remaining + 8))
            }
            regions = try (0..<n).map { _ throws(WireError) in try VhostUserMemoryRegion(from: &r) }
        } catch let e as VhostUserError { throw e } catch { throw .truncated }
    }
    public var encoded: [UInt8] {
        var w = WireWriter()
        w.write(UInt32(regions.count)); w.write(UInt32(0))
        for reg in regions { reg.encode(into: &w) }
        return w.bytes
    }
}

/// `VhostUserConfig` (GET/SET_CONFIG).
public struct VhostUserConfig: Equatable, Sendable {
    public static let headerSize = 12
    public static let maxSize: UInt32 = 256
    public var offset: UInt32
    public var size: UInt32
    public var flags: UInt32
    public var payload: [UInt8]
    public init(offset: UInt32, size: UInt32, flags: UInt32, payload: [UInt8]) {
        self.offset = offset; self.size = size; self.flags = flags; self.payload = payload
    }
    public init(from r: inout WireReader) throws(VhostUserError) {
        do {
            offset = try r.read(); size = try r.read(); flags = try r.read()
            guard size <= Self.maxSize, r.remaining == Int(size) else {
                throw VhostUserError.badPayloadSize(request: 24, size: UInt32(r.remaining + 12))
            }
            payload = try r.readBytes(Int(size))
        } catch let e as VhostUserError { throw e } catch { throw .truncated }
    }
    public var encoded: [UInt8] {
        var w = WireWriter()
        w.write(offset); w.write(size); w.write(flags); w.write(bytes: payload)
        return w.bytes
    }
}

public enum VhostUserError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated
    case badVersion(UInt32)
    case payloadTooLarge(UInt32)
    case badPayloadSize(request: UInt32, size: UInt32)
    case badFDCount(request: UInt32, got: Int, expected: String)
    case badRegionCount(UInt32)
    case unknownRequest(UInt32)
    case peerClosed
    public var description: String {
        switch self {
        case .truncated: "message truncated"
        case .badVersion(let f): "unsupported header flags 0x\(String(f, radix: 16)) (version must be 1)"
        case .payloadTooLarge(let s): "payload of \(s) bytes exceeds \(VhostUserHeader.maxPayload)"
        case .badPayloadSize(let r, let s): "request \(r): payload size \(s) is wrong for this request"
        case .badFDCount(let r, let g, let e): "request \(r): \(g) file descriptors, expected \(e)"
        case .badRegionCount(let n): "\(n) memory regions (1...\(VhostUserMemory.maxRegions) allowed)"
        case .unknownRequest(let r): "unknown request \(r)"
        case .peerClosed: "frontend closed the connection"
        }
    }
}
