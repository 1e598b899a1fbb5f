// UPDATE straight from resource rows: StridedRows refuses rows outside their buffer, and the gather send delivers
// header + rows exactly, across partial writes and more rows than IOV_MAX.
import Foundation
import Glibc
import Testing
import VireoSystem

@Suite struct GatherSendTests {
    @Test("StridedRows: every row must lie inside the buffer; overflowing fields are refused")
    func rowsBounds() {
        let bytes = [UInt8](repeating: 0, count: 100)
        bytes.withUnsafeBytes { buf in
            #expect(StridedRows(buffer: buf, offset: 0, stride: 10, rowBytes: 10, count: 10) != nil)
            #expect(StridedRows(buffer: buf, offset: 1, stride: 10, rowBytes: 10, count: 10) == nil)
            #expect(StridedRows(buffer: buf, offset: 90, stride: 10, rowBytes: 10, count: 1) != nil)
            #expect(StridedRows(buffer: buf, offset: 91, stride: 10, rowBytes: 10, count: 1) == nil)
            #expect(StridedRows(buffer: buf, offset: 0, stride: Int.max, rowBytes: 4, count: 3) == nil)
            #expect(StridedRows(buffer: buf, offset: Int.max, stride: 4, rowBytes: 4, count: 1) == nil)
            #expect(StridedRows(buffer: buf, offset: -1, stride: 4, rowBytes: 4, count: 1) == nil)
            #expect(StridedRows(buffer: buf, offset: 200, stride: 4, rowBytes: 0, count: 0) == nil)
        }
    }

    /// Sends `count` rows of `rowBytes` out of rows `stride` apart over a socketpair and reads them back.
    func roundTrip(rowBytes: Int, stride: Int, count: Int, nonBlocking: Bool) throws -> Bool {
        let (a, b) = try UnixSocket.pair()
        if nonBlocking { _ = fcntl(a.rawValue, F_SETFL, fcntl(a.rawValue, F_GETFL) | O_NONBLOCK) }
        let source = (0..<(stride * count + 7)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        let header: [UInt8] = [1, 2, 3, 4, 5]
        var expected = header
        for r in 0..<count { expected += source[(7 + r * stride)..<(7 + r * stride + rowBytes)] }
        let received = Received()
        let want = expected.count, fd = b.rawValue
        let reader = Thread {
            // Slow reads so the writer sees partial writes (and EAGAIN when non-blocking).
            while received.count < want {
                var chunk = [UInt8](repeating: 0, count: 50_000)
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
                if n <= 0 { break }
                received.append(chunk[0..<n])
                usleep(200)
            }
        }
        reader.start()
        try header.withUnsafeBytes { h in
            try source.withUnsafeBytes { buf in
                let rows = try #require(StridedRows(buffer: buf, offset: 7, stride: stride, rowBytes: rowBytes,
                                                    count: count))
                try UnixSocket.send(a, header: h, rows: rows)
            }
        }
        let deadline = Date() + 10
        while received.count < expected.count && Date() < deadline { usleep(1000) }
        return withExtendedLifetime(b) { received.bytes == expected }
    }

    final class Received: @unchecked Sendable {   // Sendable: every access holds `lock`
        private let lock = NSLock()
        private var storage = [UInt8]()
        var count: Int { lock.withLock { storage.count } }
        var bytes: [UInt8] { lock.withLock { storage } }
        func append(_ more: ArraySlice<UInt8>) { lock.withLock { storage += more } }
    }

    @Test("Gather send: contiguous rows, strided rows beyond IOV_MAX, partial writes, non-blocking socket")
    func gatherSend() throws {
        #expect(try roundTrip(rowBytes: 4096, stride: 4096, count: 300, nonBlocking: false))
        #expect(try roundTrip(rowBytes: 256, stride: 1000, count: 2500, nonBlocking: false))
        #expect(try roundTrip(rowBytes: 1000, stride: 1234, count: 1500, nonBlocking: true))
        #expect(try roundTrip(rowBytes: 0, stride: 8, count: 3, nonBlocking: false))
    }
}
