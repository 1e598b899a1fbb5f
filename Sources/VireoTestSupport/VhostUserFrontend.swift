// VhostUserFrontend: plays QEMU's side of vhost-user over a real socket: feature negotiation, the memory table
// with memfds, vring setup with eventfds, config access, and raw messages for hostile tests.
import Foundation
import GuestMemory
import VhostUser
import VireoSystem
import Wire

public final class VhostUserFrontend: @unchecked Sendable {
    // Sendable: one test drives it.
    public let channel: VhostUserChannel
    public var replyAck = true
    /// Like QEMU's `iommu_platform=on`: take VIRTIO_F_ACCESS_PLATFORM (rings and buffers become IOVAs).
    public var acceptIOMMUPlatform = false
    public private(set) var features: UInt64 = 0
    public private(set) var protocolFeatures: UInt64 = 0

    public init(socket: OwnedFD) { channel = VhostUserChannel(socket: socket) }

    public enum Failure: Error, CustomStringConvertible {
        case noReply(UInt32)
        case nack(UInt32, UInt64)
        case badReply(String)
        public var description: String {
            switch self {
            case .noReply(let r): "no reply to request \(r)"
            case .nack(let r, let v): "request \(r) NACKed (\(v))"
            case .badReply(let s): s
            }
        }
    }

    /// Waits for the next message from the backend (a reply), nil when the connection closed or timed out.
    public func receiveReply(timeoutMS: Int32 = 5000) -> VhostUserMessage? {
        guard (try? UnixSocket.waitReadable(channel.socket, timeoutMS: timeoutMS)) == true else { return nil }
        return try? channel.receive()
    }

    /// True when the backend closed the connection (EOF within the timeout).
    public func backendClosed(timeoutMS: Int32 = 3000) -> Bool {
        guard (try? UnixSocket.waitReadable(channel.socket, timeoutMS: timeoutMS)) == true else { return false }
        if case .some(VhostUserError.peerClosed) = (Result { try channel.receive() }).failure { return true }
        return false
    }

    /// Sends a request; with REPLY_ACK negotiated asks for an ack and throws on NACK.
    public func request(_ r: VhostUserRequest, payload: [UInt8] = [], fds: [OwnedFD] = [],
                        expectReply: Bool = false) throws -> [UInt8]? {
        let ack = !expectReply && replyAck && protocolFeatures & VhostUserProtocolFeature.replyAck.mask != 0
        try channel.send(request: r.rawValue, flags: ack ? VhostUserHeader.needReplyFlag : 0, payload: payload, fds: fds)
        if expectReply || ack {
            guard let reply = receiveReply() else { throw Failure.noReply(r.rawValue) }
            guard reply.header.request == r.rawValue, reply.header.flags & VhostUserHeader.replyFlag != 0 else {
                throw Failure.badReply("reply to \(reply.header.request), expected \(r.rawValue)")
            }
            if ack {
                var rd = WireReader(reply.payload)
                let v: UInt64 = try rd.read()
                if v != 0 { throw Failure.nack(r.rawValue, v) }
                return nil
            }
            return reply.payload
        }
        return nil
    }

    public func u64(_ v: UInt64) -> [UInt8] { var w = WireWriter(); w.write(v); return w.bytes }
    func readU64(_ bytes: [UInt8]?) throws -> UInt64 {
        var r = WireReader(bytes ?? [])
        return try r.read()
    }

    /// GET/SET_FEATURES and protocol features: takes everything offered (minus `withoutFeatures`).
    public func negotiate(withoutFeatures: UInt64 = 0, withoutProtocolFeatures: UInt64 = 0) throws {
        let offered = try readU64(request(.getFeatures, expectReply: true))
        features = offered & ~withoutFeatures & (acceptIOMMUPlatform ? ~0 : ~FeatureBit.accessPlatform)
        if features & FeatureBit.protocolFeatures != 0 {
            let p = try readU64(request(.getProtocolFeatures, expectReply: true))
            _ = try request(.setFeatures, payload: u64(features))
            let wanted = p & ~withoutProtocolFeatures
            _ = try request(.setProtocolFeatures, payload: u64(wanted))
            protocolFeatures = wanted
        } else {
            _ = try request(.setFeatures, payload: u64(features))
        }
        _ = try request(.setOwner)
    }

    public func setMemTable(_ ram: GuestRAM) throws {
        let table = VhostUserMemory(regions: ram.vhostRegions)
        _ = try request(.setMemTable, payload: table.encoded, fds: try ram.regions.map { try $0.fd.duplicate() })
    }

    /// SET_VRING_NUM/ADDR/BASE/CALL/KICK/ENABLE for ring `index`.
    /// `deviceAddress`: the ring addresses to send, from guest-physical ones (e.g. IOVAs behind Vireo's own IOMMU).
    public func setupRing(_ index: UInt32, _ ring: GuestRing, ram: GuestRAM,
                          deviceAddress: ((UInt64) -> UInt64)? = nil) throws {
        _ = try request(.setVringNum, payload: VringState(index: index, num: UInt32(ring.size)).encoded)
        // With ACCESS_PLATFORM ring addresses are IOVAs (identity-mapped to guest-physical here), else user addresses.
        let iova = features & FeatureBit.accessPlatform != 0
        let address = { (gpa: UInt64) in deviceAddress?(gpa) ?? (iova ? gpa : ram.userAddress(of: gpa)) }
        let addr = VringAddr(index: index, flags: 0, descUserAddr: address(ring.desc), usedUserAddr: address(ring.used),
                             availUserAddr: address(ring.avail), logGuestAddr: 0)
        _ = try request(.setVringAddr, payload: addr.encoded)
        _ = try request(.setVringBase, payload: VringState(index: index, num: 0).encoded)
        _ = try request(.setVringCall, payload: u64(UInt64(index)), fds: [try ring.call.duplicate()])
        _ = try request(.setVringKick, payload: u64(UInt64(index)), fds: [try ring.kick.duplicate()])
        ring.eventIdx = features & FeatureBit.eventIdx != 0
        if ring.eventIdx { ring.requestEveryNotification() }
        if features & FeatureBit.protocolFeatures != 0 {
            _ = try request(.setVringEnable, payload: VringState(index: index, num: 1).encoded)
        }
    }

    public func getConfig(offset: UInt32 = 0, size: UInt32 = 16) throws -> [UInt8] {
        let payload = VhostUserConfig(offset: offset, size: size, flags: 0,
                                      payload: [UInt8](repeating: 0, count: Int(size))).encoded
        var r = WireReader(try request(.getConfig, payload: payload, expectReply: true) ?? [])
        return try VhostUserConfig(from: &r).payload
    }
}

extension Result {
    var failure: Failure? { if case .failure(let f) = self { return f }; return nil }
}
