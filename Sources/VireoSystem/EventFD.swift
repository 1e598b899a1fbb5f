// EventFD: kick and call notifications between frontend and backend (eventfd(2), non-blocking).
import CVireoSystem
import Glibc

public enum EventFD {
    public static func make() throws(SystemError) -> OwnedFD {
        let fd = cvireo_eventfd(0)
        guard fd >= 0 else { throw SystemError("eventfd") }
        return OwnedFD(taking: fd)
    }
    /// Adds one to the counter. A full counter or a non-eventfd descriptor is ignored: a notification is a hint.
    @discardableResult
    public static func signal(_ fd: OwnedFD) -> Bool { cvireo_eventfd_write(fd.rawValue, 1) == 0 }
    /// Reads and resets the counter; nil when nothing was pending.
    public static func drain(_ fd: OwnedFD) -> UInt64? {
        var value: UInt64 = 0
        return cvireo_eventfd_read(fd.rawValue, &value) == 0 ? value : nil
    }
}
