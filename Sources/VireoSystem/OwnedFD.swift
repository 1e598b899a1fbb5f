// OwnedFD: a file descriptor with exactly one owner; closed in deinit so no path leaks one.
import CVireoSystem
import Glibc

public final class OwnedFD: @unchecked Sendable {
    // Sendable: the raw value never changes after init, and close happens once in deinit.
    public let rawValue: Int32

    /// Takes ownership of `rawValue` (>= 0).
    public init(taking rawValue: Int32) {
        precondition(rawValue >= 0, "OwnedFD needs a valid descriptor")
        self.rawValue = rawValue
    }
    deinit { close(rawValue) }

    /// A new descriptor for the same open file (dup with CLOEXEC).
    public func duplicate() throws(SystemError) -> OwnedFD {
        let fd = fcntl(rawValue, F_DUPFD_CLOEXEC, 0)
        guard fd >= 0 else { throw SystemError("dup") }
        return OwnedFD(taking: fd)
    }

    /// Size of the file behind the descriptor (for memfd and files).
    public func fileSize() throws(SystemError) -> UInt64 {
        var st = stat()
        guard fstat(rawValue, &st) == 0 else { throw SystemError("fstat") }
        return UInt64(max(0, st.st_size))
    }

    /// Writes all bytes or throws.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(rawValue, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw SystemError("write")
            }
            done += n
        }
    }

    public func setNonBlocking(_ on: Bool) throws(SystemError) {
        let flags = fcntl(rawValue, F_GETFL)
        guard flags >= 0, fcntl(rawValue, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) == 0 else {
            throw SystemError("fcntl")
        }
    }
}
