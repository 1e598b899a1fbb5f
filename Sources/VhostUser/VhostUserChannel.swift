// VhostUserChannel: framing of vhost-user messages on a unix socket: header, payload and SCM_RIGHTS descriptors.
// Size, version and fd count limits are enforced here, before any payload is interpreted.
import VireoSystem
import Wire

public struct VhostUserMessage: Sendable {
    public var header: VhostUserHeader
    public var payload: [UInt8]
    public var fds: [OwnedFD]
    public var request: VhostUserRequest? { VhostUserRequest(rawValue: header.request) }
}

public struct VhostUserChannel: Sendable {
    public let socket: OwnedFD
    public init(socket: OwnedFD) { self.socket = socket }

    /// Reads one message. Throws `.peerClosed` at EOF; framing errors mean the stream cannot be trusted any more.
    public func receive() throws -> VhostUserMessage {
        var headerBytes = [UInt8](repeating: 0, count: VhostUserHeader.size)
        var got = 0
        var fds: [OwnedFD] = []
        var truncated = false
        while got < VhostUserHeader.size {
            let r = try headerBytes.withUnsafeMutableBytes { buf in
                try UnixSocket.receive(socket, into: UnsafeMutableRawBufferPointer(rebasing: buf[got...]))
            }
            if r.byteCount == 0 { throw VhostUserError.peerClosed }
            got += r.byteCount
            fds += r.fds
            truncated = truncated || r.fdsTruncated
        }
        var reader = WireReader(headerBytes)
        let header = try VhostUserHeader(from: &reader)
        guard header.flags & VhostUserHeader.versionMask == VhostUserHeader.version else {
            throw VhostUserError.badVersion(header.flags)
        }
        guard header.size <= VhostUserHeader.maxPayload else { throw VhostUserError.payloadTooLarge(header.size) }
        var payload: [UInt8] = []
        if header.size > 0 {
            guard let p = try UnixSocket.receiveExactly(socket, count: Int(header.size)) else {
                throw VhostUserError.peerClosed
            }
            payload = p
        }
        if truncated {
            throw VhostUserError.badFDCount(request: header.request, got: fds.count + 1, expected: "at most 8")
        }
        return VhostUserMessage(header: header, payload: payload, fds: fds)
    }

    /// Sends a reply to `request` with the REPLY flag.
    public func reply(to request: UInt32, payload: [UInt8]) throws {
        let header = VhostUserHeader(request: request, flags: VhostUserHeader.version | VhostUserHeader.replyFlag,
                                     size: UInt32(payload.count))
        try UnixSocket.send(socket, header.encoded + payload)
    }

    /// Sends a request (frontend side, used by the test driver).
    public func send(request: UInt32, flags: UInt32 = 0, payload: [UInt8], fds: [OwnedFD] = []) throws {
        let header = VhostUserHeader(request: request, flags: VhostUserHeader.version | flags,
                                     size: UInt32(payload.count))
        try UnixSocket.send(socket, header.encoded + payload, fds: fds)
    }
}
