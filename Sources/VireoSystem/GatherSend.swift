// GatherSend: messages whose tail is rows of a larger buffer (a resource's pixels), sent with sendmsg(2) gather
// lists so user space copies nothing; partial writes are resumed and lists longer than IOV_MAX are split.
import CVireoSystem
import Glibc

/// `count` rows of `rowBytes` bytes, `stride` bytes apart, the first `offset` bytes into `buffer`. The initializer
/// checks that every row lies inside `buffer`, so nothing outside it can be sent. Valid only as long as `buffer`.
public struct StridedRows {
    public let buffer: UnsafeRawBufferPointer
    public let offset: Int
    public let stride: Int
    public let rowBytes: Int
    public let count: Int

    /// nil when a field is negative or some row would reach outside `buffer`.
    public init?(buffer: UnsafeRawBufferPointer, offset: Int, stride: Int, rowBytes: Int, count: Int) {
        guard offset >= 0, stride >= 0, rowBytes >= 0, count >= 0, offset <= buffer.count else { return nil }
        if count > 0 && rowBytes > 0 {
            // The last byte read is offset + (count-1)*stride + rowBytes - 1: overflow-checked, compared by
            // subtraction.
            let (span, o1) = (count - 1).multipliedReportingOverflow(by: stride)
            let (end, o2) = span.addingReportingOverflow(rowBytes)
            guard !o1, !o2, buffer.baseAddress != nil, offset <= buffer.count, end <= buffer.count - offset else {
                return nil
            }
        }
        self.buffer = buffer; self.offset = offset; self.stride = stride; self.rowBytes = rowBytes; self.count = count
    }

    public var byteCount: Int { rowBytes * count }
    /// Rows that follow each other without gaps go out as one piece.
    public var isContiguous: Bool { stride == rowBytes || count <= 1 }
}

extension UnixSocket {
    /// Sends `header` then the rows, all of it (a blocking or non-blocking stream socket), without copying the
    /// rows in user space. Like `send`, MSG_NOSIGNAL: a closed peer is an error, not a signal.
    /// While the peer does not read, `whileBlocked` runs every few milliseconds (the peer may be waiting for us);
    /// after `stallLimitMS` without progress the send fails with ETIMEDOUT.
    public static func send(_ sock: OwnedFD, header: UnsafeRawBufferPointer, rows: StridedRows,
                            whileBlocked: (() -> Void)? = nil, stallLimitMS: Int = 5000) throws(SystemError) {
        let rowPieces = rows.byteCount == 0 ? 0 : (rows.isContiguous ? 1 : rows.count)
        let total = 1 + rowPieces
        let iovMax = Int(max(16, cvireo_iov_max()))
        let failed: SystemError? = withUnsafeTemporaryAllocation(of: iovec.self, capacity: total) { iov in
            iov[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: header.baseAddress), iov_len: header.count)
            if rowPieces > 0 {
                let base = rows.buffer.baseAddress! + rows.offset      // non-nil and in range: checked by init
                if rowPieces == 1 {
                    iov[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: base), iov_len: rows.byteCount)
                } else {
                    for r in 0..<rows.count {
                        iov[1 + r] = iovec(iov_base: UnsafeMutableRawPointer(mutating: base + r * rows.stride),
                                           iov_len: rows.rowBytes)
                    }
                }
            }
            var first = 0   // first piece not wholly sent; pieces before it are done
            var stall = SendStall(limitMS: stallLimitMS, whileBlocked: whileBlocked)
            while first < total {
                if iov[first].iov_len == 0 { first += 1; continue }
                let n = cvireo_sendmsg_iov(sock.rawValue, iov.baseAddress! + first, Int32(min(total - first, iovMax)))
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN || errno == EWOULDBLOCK {
                        do throws(SystemError) { try stall.wait(sock) } catch { return error }
                        continue
                    }
                    return SystemError("sendmsg")
                }
                stall.progressed()
                var left = n
                while left > 0 {
                    if left >= iov[first].iov_len {
                        left -= iov[first].iov_len
                        first += 1
                    } else {
                        iov[first].iov_base = iov[first].iov_base! + left
                        iov[first].iov_len -= left
                        left = 0
                    }
                }
            }
            return nil
        }
        if let failed { throw failed }
    }
}
