// UnixSocket: stream sockets that carry file descriptors (SCM_RIGHTS), as vhost-user needs.
import CVireoSystem
import Glibc

public enum UnixSocket {
    /// Most descriptors one vhost-user message may carry (VHOST_MEMORY_BASELINE_NREGIONS).
    public static let maxFDsPerMessage = 8

    public static func listen(path: String, backlog: Int32 = 16) throws(SystemError) -> OwnedFD {
        let fd = cvireo_unix_listen(path, backlog)
        guard fd >= 0 else { throw SystemError("listen on \(path)") }
        return OwnedFD(taking: fd)
    }
    public static func connect(path: String) throws(SystemError) -> OwnedFD {
        let fd = cvireo_unix_connect(path)
        guard fd >= 0 else { throw SystemError("connect to \(path)") }
        return OwnedFD(taking: fd)
    }
    public static func pair() throws(SystemError) -> (OwnedFD, OwnedFD) {
        var fds: [Int32] = [-1, -1]
        guard cvireo_socketpair(&fds) == 0 else { throw SystemError("socketpair") }
        return (OwnedFD(taking: fds[0]), OwnedFD(taking: fds[1]))
    }
    public static func accept(_ listener: OwnedFD) throws(SystemError) -> OwnedFD {
        let fd = cvireo_accept(listener.rawValue)
        guard fd >= 0 else { throw SystemError("accept") }
        return OwnedFD(taking: fd)
    }
    /// True when `fd` is readable within `timeoutMS`.
    public static func waitReadable(_ fd: OwnedFD, timeoutMS: Int32) throws(SystemError) -> Bool {
        let r = cvireo_poll_readable(fd.rawValue, timeoutMS)
        guard r >= 0 else { throw SystemError("poll") }
        return r > 0
    }

    /// Like `waitReadable`, but first spins up to `spinMicroseconds` checking without sleeping: a reply that comes
    /// within that time costs no wake-up.
    public static func waitReadable(_ fd: OwnedFD, timeoutMS: Int32, spinMicroseconds: Int) throws(SystemError) -> Bool {
        if spinMicroseconds > 0 {
            let deadline = SpinDeadline(microseconds: spinMicroseconds)
            repeat {
                let r = cvireo_poll_readable(fd.rawValue, 0)
                guard r >= 0 else { throw SystemError("poll") }
                if r > 0 { return true }
                SpinDeadline.relax()
            } while !deadline.hasPassed
        }
        return try waitReadable(fd, timeoutMS: timeoutMS)
    }

    /// Sets `sock`'s send buffer (SO_SNDBUF: the kernel caps `bytes` at net.core.wmem_max, then doubles it for
    /// its bookkeeping). Returns the size in effect, or nil when refused.
    @discardableResult
    public static func setSendBuffer(_ sock: OwnedFD, bytes: Int) -> Int? {
        let r = cvireo_set_send_buffer(sock.rawValue, Int32(clamping: bytes))
        return r < 0 ? nil : Int(r)
    }

    /// Sends all of `bytes` (the descriptors with the first chunk). On a non-blocking socket whose peer does not
    /// read, `whileBlocked` runs every few milliseconds; after `stallLimitMS` without progress: ETIMEDOUT.
    public static func send(_ sock: OwnedFD, _ bytes: [UInt8], fds: [OwnedFD] = [], whileBlocked: (() -> Void)? = nil,
                            stallLimitMS: Int = 5000) throws(SystemError) {
        let raw = fds.map(\.rawValue)
        var offset = 0
        var stall = SendStall(limitMS: stallLimitMS, whileBlocked: whileBlocked)
        repeat {
            let n = bytes.withUnsafeBytes { buf in
                raw.withUnsafeBufferPointer { fdBuf in
                    cvireo_send_with_fds(sock.rawValue, buf.baseAddress! + offset, buf.count - offset,
                                         offset == 0 ? fdBuf.baseAddress : nil, offset == 0 ? Int32(raw.count) : 0)
                }
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { try stall.wait(sock); continue }
                throw SystemError("sendmsg")
            }
            stall.progressed()
            offset += n
        } while offset < bytes.count
        withExtendedLifetime(fds) {}
    }

    public struct Received {
        public var byteCount: Int
        public var fds: [OwnedFD]
        /// The sender passed more descriptors than fit: they were closed and the message must be refused.
        public var fdsTruncated: Bool
    }

    /// One recvmsg into `buffer`. byteCount 0 means the peer closed.
    public static func receive(_ sock: OwnedFD, into buffer: UnsafeMutableRawBufferPointer,
                               maxFDs: Int = maxFDsPerMessage) throws(SystemError) -> Received {
        var raw = [Int32](repeating: -1, count: max(1, maxFDs))
        var count: Int32 = 0
        var truncated: Int32 = 0
        let n = cvireo_recv_with_fds(sock.rawValue, buffer.baseAddress, buffer.count, &raw, Int32(maxFDs),
                                     &count, &truncated)
        guard n >= 0 else { throw SystemError("recvmsg") }
        return Received(byteCount: n, fds: raw.prefix(Int(count)).map { OwnedFD(taking: $0) },
                        fdsTruncated: truncated != 0)
    }

    /// Reads exactly `count` bytes (no descriptors); nil if the peer closed first.
    public static func receiveExactly(_ sock: OwnedFD, count: Int) throws(SystemError) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { buf in
                Glibc.read(sock.rawValue, buf.baseAddress! + done, count - done)
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { _ = try waitReadable(sock, timeoutMS: 1000); continue }
                throw SystemError("read")
            }
            if n == 0 { return nil }
            done += n
        }
        return out
    }
}

/// What a send does while a non-blocking peer does not read: run `whileBlocked` (the peer may be waiting for us),
/// wait up to 10 ms for room, and give up with ETIMEDOUT after `limitMS` without progress.
struct SendStall {
    let limitMS: Int
    let whileBlocked: (() -> Void)?
    private var stalledMS = 0
    init(limitMS: Int, whileBlocked: (() -> Void)?) { self.limitMS = limitMS; self.whileBlocked = whileBlocked }

    mutating func wait(_ sock: OwnedFD) throws(SystemError) {
        guard stalledMS < limitMS else { throw SystemError("sendmsg", errno: ETIMEDOUT) }
        whileBlocked?()
        if cvireo_poll_writable(sock.rawValue, 10) == 0 { stalledMS += 10 }
    }
    mutating func progressed() { stalledMS = 0 }
}
