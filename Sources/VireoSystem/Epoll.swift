// Epoll: readiness for a connection's socket and its queues' kick descriptors, tagged by the caller.
import CVireoSystem
import Glibc

public final class Epoll: @unchecked Sendable {
    // Sendable: used by one connection thread; epoll itself is thread-safe for ctl/wait.
    private let fd: OwnedFD
    public struct Event: Sendable { public let tag: UInt64; public let readable: Bool; public let hangup: Bool }

    public init() throws(SystemError) {
        let raw = cvireo_epoll_create()
        guard raw >= 0 else { throw SystemError("epoll_create1") }
        fd = OwnedFD(taking: raw)
    }
    public func add(_ watched: OwnedFD, tag: UInt64) throws(SystemError) {
        guard cvireo_epoll_add(fd.rawValue, watched.rawValue, tag) == 0 else { throw SystemError("epoll_ctl add") }
    }
    public func remove(_ watched: OwnedFD) { _ = cvireo_epoll_del(fd.rawValue, watched.rawValue) }

    /// Waits up to `timeoutMS` (-1: forever).
    public func wait(timeoutMS: Int32) throws(SystemError) -> [Event] {
        var tags = [UInt64](repeating: 0, count: 16)
        var flags = [UInt32](repeating: 0, count: 16)
        let n = cvireo_epoll_wait(fd.rawValue, &tags, &flags, 16, timeoutMS)
        guard n >= 0 else { throw SystemError("epoll_wait") }
        return (0..<Int(n)).map { Event(tag: tags[$0], readable: flags[$0] & 1 != 0, hangup: flags[$0] & 2 != 0) }
    }
}
