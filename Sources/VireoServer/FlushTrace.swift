// FlushTrace: `--trace-flushes FILE`, a diagnostic log of every RESOURCE_FLUSH with its wall-clock time, so a
// viewer's receive time (on the same clock) can be matched to the flush that produced its picture
// (scripts/bench-vnc.sh). Off by default; when on, one write(2) per flush.
import Display
#if canImport(Glibc)
import Glibc
#endif

public final class FlushTrace: Sendable {
    private let fd: Int32

    /// Opens (creates, appends to) `path`.
    public init(path: String) throws(FlushTraceError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FlushTraceError(path: path, errno: errno) }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Logs one flush: "SECONDS.MICROSECONDS flush res=ID x=X y=Y w=W h=H" (CLOCK_REALTIME, taken when called).
    /// Lines are written whole with O_APPEND, so connections one after another share the file.
    public func flush(resourceID: UInt32, rect: Rect) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let micros = now.tv_nsec / 1000
        let fraction = String(micros)
        let line = "\(now.tv_sec).\(String(repeating: "0", count: 6 - fraction.count))\(fraction) flush res=\(resourceID) x=\(rect.x) y=\(rect.y) w=\(rect.width) h=\(rect.height)\n"
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }   // a lost line is only a lost sample
    }
}

public struct FlushTraceError: Error, CustomStringConvertible {
    public var path: String
    public var errno: Int32
    public var description: String { "cannot open \(path): \(String(cString: strerror(errno)))" }
}
