// Whole-frame flushes hand the DisplaySet the resource's pixels (copy-on-write) instead of a copy, and whole
// transfers then write into the picture the DisplaySet gave back. What is shown must be exactly as with copies.
import Display
import GuestMemory
import Testing
@testable import VirtioGPU

@Suite struct GPUWholeFramePresentTests {
    static let w: UInt32 = 64, h: UInt32 = 32
    static func pattern(seed: UInt8) -> [UInt8] {
        (0..<Int(w * h * 4)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ Int(seed)) }
    }
    static let whole = R(0, 0, w, h)

    /// The picture `bytes` with rows of `rect` replaced from `other` (both w x h, BGRX).
    static func overlay(_ bytes: [UInt8], _ other: [UInt8], _ rect: Rect) -> [UInt8] {
        var out = bytes
        for y in Int(rect.y)..<Int(rect.y + rect.height) {
            let o = (y * Int(w) + Int(rect.x)) * 4
            out.replaceSubrange(o..<o + Int(rect.width) * 4, with: other[o..<o + Int(rect.width) * 4])
        }
        return out
    }

    @Test("GPU2D-5: whole-frame flushes show exactly each flushed frame; transfers alone show nothing; snapshots keep theirs")
    func wholeFramesShared() throws {
        let hs = try Harness(width: Self.w, height: Self.h)
        let a = Self.pattern(seed: 1), b = Self.pattern(seed: 2), c = Self.pattern(seed: 3)
        let d = Self.pattern(seed: 4), e = Self.pattern(seed: 5)
        try hs.makeResource(1, Self.w, Self.h, bytes: a)
        #expect(hs.code(Req.setScanout(0, 1, Self.whole)) == .okNoData)
        #expect(hs.code(Req.flush(1, Self.whole)) == .okNoData)
        #expect(hs.displays.snapshot(0)?.pixels == a)
        let kept = try #require(hs.displays.snapshot(0))

        // A whole transfer without a flush changes the resource, not what is shown.
        try hs.guest.write(b, at: TestGuest.base1)
        #expect(hs.code(Req.transfer(1, Self.whole)) == .okNoData)
        #expect(hs.displays.snapshot(0)?.pixels == a)
        #expect(hs.code(Req.flush(1, Self.whole)) == .okNoData)
        #expect(hs.displays.snapshot(0)?.pixels == b)
        #expect(kept.pixels == a)
        // Shared, not copied: the picture the DisplaySet gave back (a's, which `kept` still holds) waits for the
        // next whole transfer, which writes into it without touching `kept`.
        #expect(hs.device.spareFrames[0]?.count == Int(Self.w * Self.h * 4))

        // Again (the spare picture goes round), then a partial transfer: shown only after its flush.
        try hs.guest.write(c, at: TestGuest.base1)
        #expect(hs.code(Req.transfer(1, Self.whole)) == .okNoData)
        #expect(hs.device.spareFrames[0] == nil)
        #expect(kept.pixels == a)
        #expect(hs.displays.snapshot(0)?.pixels == b)
        #expect(hs.code(Req.flush(1, Self.whole)) == .okNoData)
        #expect(hs.displays.snapshot(0)?.pixels == c)
        let part = R(8, 4, 10, 6)
        try hs.guest.write(d, at: TestGuest.base1)
        #expect(hs.code(Req.transfer(1, part, offset: UInt64(part.y) * UInt64(Self.w) * 4 + UInt64(part.x) * 4)) == .okNoData)
        #expect(hs.displays.snapshot(0)?.pixels == c)
        #expect(hs.code(Req.flush(1, part)) == .okNoData)
        let cd = Self.overlay(c, d, part)
        #expect(hs.displays.snapshot(0)?.pixels == cd)

        // Two whole flushes without a transfer between, then a whole transfer and flush.
        #expect(hs.code(Req.flush(1, Self.whole)) == .okNoData)
        #expect(hs.code(Req.flush(1, Self.whole)) == .okNoData)
        #expect(hs.displays.snapshot(0)?.pixels == cd)
        try hs.guest.write(e, at: TestGuest.base1)
        #expect(hs.code(Req.transfer(1, Self.whole)) == .okNoData)
        #expect(hs.displays.snapshot(0)?.pixels == cd)
        #expect(hs.code(Req.flush(1, Self.whole)) == .okNoData)
        #expect(hs.displays.snapshot(0)?.pixels == e)
        #expect(kept.pixels == a)
    }

    @Test("GPU2D-5: one resource whole on two scanouts, then another resource on one: each shows its own flushes")
    func twoScanoutsAndSwitch() throws {
        let hs = try Harness(width: Self.w, height: Self.h)
        let a = Self.pattern(seed: 10), b = Self.pattern(seed: 20), c = Self.pattern(seed: 30)
        try hs.makeResource(1, Self.w, Self.h, at: TestGuest.base1, bytes: a)
        #expect(hs.code(Req.setScanout(0, 1, Self.whole)) == .okNoData)
        #expect(hs.code(Req.setScanout(1, 1, Self.whole)) == .okNoData)
        #expect(hs.code(Req.flush(1, Self.whole)) == .okNoData)
        try hs.guest.write(b, at: TestGuest.base1)
        #expect(hs.code(Req.transfer(1, Self.whole)) == .okNoData)
        #expect(hs.displays.snapshot(0)?.pixels == a && hs.displays.snapshot(1)?.pixels == a)
        #expect(hs.code(Req.flush(1, Self.whole)) == .okNoData)
        #expect(hs.displays.snapshot(0)?.pixels == b && hs.displays.snapshot(1)?.pixels == b)

        // Scanout 1 switches to resource 2; resource 1 goes on changing on scanout 0 only.
        let base2 = TestGuest.base1 + 0x10000
        try hs.makeResource(2, Self.w, Self.h, at: base2, bytes: c)
        #expect(hs.code(Req.setScanout(1, 2, Self.whole)) == .okNoData)
        #expect(hs.displays.snapshot(1)?.pixels == c)
        try hs.guest.write(a, at: TestGuest.base1)
        #expect(hs.code(Req.transfer(1, Self.whole)) == .okNoData)
        #expect(hs.code(Req.flush(1, Self.whole)) == .okNoData)
        #expect(hs.displays.snapshot(0)?.pixels == a)
        #expect(hs.displays.snapshot(1)?.pixels == c)
        #expect(hs.code(Req.flush(2, Self.whole)) == .okNoData)
        #expect(hs.displays.snapshot(1)?.pixels == c)
        // Unref of a resource no scanout shows any more leaves the pictures as they are.
        #expect(hs.code(Req.setScanout(0, 2, Self.whole)) == .okNoData)
        #expect(hs.code(Req.unref(1)) == .okNoData)
        #expect(hs.displays.snapshot(0)?.pixels == c && hs.displays.snapshot(1)?.pixels == c)
    }

    @Test("GPU2D-5.2: large full-width transfers (copied in two halves) land byte-exact, with an offset, across entries")
    func largeTransfer() throws {
        let w: UInt32 = 640, h: UInt32 = 480
        let hs = try Harness(width: w, height: h)
        let count = Int(w * h * 4)
        let bytes: [UInt8] = (0..<count).map { (i: Int) -> UInt8 in UInt8(truncatingIfNeeded: i &* 31 &+ (i >> 11)) }
        // Seven uneven entries, so the halves start inside an entry.
        let cuts = [0, 100_003, 333_333, 600_000, 614_401, 900_000, 1_100_017, count]
        var entries: [(UInt64, UInt32)] = []
        for i in 0..<cuts.count - 1 {
            let at = TestGuest.base1 + UInt64(cuts[i]) + UInt64(i) * 0x1000     // gaps between entries
            try hs.guest.write(Array(bytes[cuts[i]..<cuts[i + 1]]), at: at)
            entries.append((at, UInt32(cuts[i + 1] - cuts[i])))
        }
        #expect(hs.code(Req.create(1, GPUFormat.b8g8r8x8Unorm.rawValue, w, h)) == .okNoData)
        #expect(hs.code(Req.attach(1, entries)) == .okNoData)
        let whole = R(0, 0, w, h)
        #expect(hs.code(Req.transfer(1, whole)) == .okNoData)
        #expect(hs.code(Req.setScanout(0, 1, whole)) == .okNoData)
        #expect(hs.displays.snapshot(0)?.pixels == bytes)

        // Rows 30..<470 again from a changed backing (offset = 30 rows), then flushed: only those rows change.
        var changed = bytes
        for i in changed.indices { changed[i] = ~changed[i] }
        for i in 0..<cuts.count - 1 {
            try hs.guest.write(Array(changed[cuts[i]..<cuts[i + 1]]), at: entries[i].0)
        }
        let band = R(0, 30, w, 440)
        #expect(hs.code(Req.transfer(1, band, offset: 30 * UInt64(w) * 4)) == .okNoData)
        #expect(hs.code(Req.flush(1, whole)) == .okNoData)
        let rowBytes = Int(w) * 4
        var expected = bytes
        expected.replaceSubrange(30 * rowBytes..<470 * rowBytes, with: changed[30 * rowBytes..<470 * rowBytes])
        #expect(hs.displays.snapshot(0)?.pixels == expected)
    }
}
