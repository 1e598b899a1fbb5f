// Wire decoding: little-endian, truncation is a typed error, random input never traps.
import Testing
@testable import Wire

@Suite struct WireReaderTests {
    @Test func readsLittleEndian() throws {
        var r = WireReader([0x01, 0x02, 0x03, 0x04, 0xff])
        #expect(try r.read(UInt32.self) == 0x0403_0201)
        #expect(try r.read(UInt8.self) == 0xff)
        #expect(r.remaining == 0)
    }
    @Test func truncatedReadThrowsAndKeepsCursor() {
        var r = WireReader([1, 2, 3])
        #expect(throws: WireError.truncated(needed: 4, available: 3)) { try r.read(UInt32.self) }
        #expect(r.remaining == 3)
    }
    @Test func writerRoundTrips() throws {
        var w = WireWriter()
        w.write(UInt64(0x1122_3344_5566_7788)); w.write(UInt16(0xabcd)); w.write(zeros: 2)
        var r = WireReader(w.bytes)
        #expect(try r.read(UInt64.self) == 0x1122_3344_5566_7788)
        #expect(try r.read(UInt16.self) == 0xabcd)
        #expect(try r.readBytes(2) == [0, 0])
        #expect(throws: WireError.self) { try r.readBytes(-1) }
    }
    @Test func randomBytesNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let n = Int.random(in: 0..<40, using: &rng)
            var r = WireReader((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) })
            while (try? r.read(UInt32.self)) != nil {}
            #expect(r.remaining < 4)
        }
    }
}
