// TRANSFER_TO_HOST_2D: DMA from attached backing into host pixels (GPU2D-5.2), checked through the DisplaySet.
import Display
import GuestMemory
import Testing
@testable import VirtioGPU

@Suite struct GPUTransferTests {
    /// Distinct bytes per position, so misplaced bytes are caught.
    static func pattern(_ count: Int, seed: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) } }

    /// Shows resource `id` (w x h) on scanout 0 and returns its framebuffer bytes.
    static func shown(_ h: Harness, _ id: UInt32, _ w: UInt32, _ hh: UInt32) -> [UInt8] {
        #expect(h.code(Req.setScanout(0, id, R(0, 0, w, hh))) == .okNoData)
        return h.displays.snapshot(0)?.pixels ?? []
    }

    @Test("GPU2D-5.2: full-width TRANSFER_TO_HOST_2D reads backing split across both regions")
    func fullWidthAcrossRegions() throws {
        let h = try Harness()
        let bytes = Self.pattern(6 * 4 * 4, seed: 3)
        let a0 = TestGuest.base0 + 0x100, a1 = TestGuest.base1 + 0x10
        try h.guest.write(Array(bytes[0..<37]), at: a0)                          // split mid-pixel
        try h.guest.write(Array(bytes[37...]), at: a1)
        #expect(h.code(Req.create(1, GPUFormat.b8g8r8a8Unorm.rawValue, 6, 4)) == .okNoData)
        #expect(h.code(Req.attach(1, [(a0, 37), (a1, 59)])) == .okNoData)
        #expect(h.code(Req.transfer(1, R(0, 0, 6, 4))) == .okNoData)
        #expect(Self.shown(h, 1, 6, 4) == bytes)
    }

    @Test("GPU2D-5.2: partial TRANSFER_TO_HOST_2D copies rows from offset + row*stride across many entries")
    func partialRect() throws {
        let h = try Harness()
        let old = Self.pattern(128, seed: 1), new = Self.pattern(128, seed: 100)
        // Seven entries of 20 bytes (the last 8), alternating regions: rows straddle entries.
        var entries: [(UInt64, UInt32)] = []
        for i in 0..<7 {
            let len = i == 6 ? 8 : 20
            let addr = (i % 2 == 0 ? TestGuest.base0 : TestGuest.base1) + UInt64(i) * 0x1000
            entries.append((addr, UInt32(len)))
        }
        func fill(_ bytes: [UInt8]) throws {
            var at = 0
            for (a, l) in entries { try h.guest.write(Array(bytes[at..<at + Int(l)]), at: a); at += Int(l) }
        }
        try fill(old)
        #expect(h.code(Req.create(1, GPUFormat.b8g8r8x8Unorm.rawValue, 8, 4)) == .okNoData)
        #expect(h.code(Req.attach(1, entries)) == .okNoData)
        #expect(h.code(Req.transfer(1, R(0, 0, 8, 4))) == .okNoData)
        try fill(new)
        let rect = R(2, 1, 3, 2)
        #expect(h.code(Req.transfer(1, rect, offset: 1 * 32 + 2 * 4)) == .okNoData)
        var expected = old
        for y in 1..<3 { for b in (y * 32 + 8)..<(y * 32 + 20) { expected[b] = new[b] } }
        #expect(Self.shown(h, 1, 8, 4) == expected)
    }

    @Test("GPU2D-5: TRANSFER_TO_HOST_2D rejects rect outside resource")
    func rectOutside() throws {
        let h = try Harness()
        let old = Self.pattern(128, seed: 5)
        try h.makeResource(1, 8, 4, bytes: old)
        try h.guest.write(Self.pattern(128, seed: 77), at: TestGuest.base1)
        for r in [R(5, 0, 4, 1), R(0, 0, 9, 1), R(0, 3, 1, 2), R(.max, 0, 2, 1), R(0, .max, 1, 2), R(9, 0, 0, 1)] {
            #expect(h.code(Req.transfer(1, r)) == .errInvalidParameter)
        }
        #expect(Self.shown(h, 1, 8, 4) == old)
    }

    @Test("GPU2D-5.2: TRANSFER_TO_HOST_2D needing more than the backing is ERR_INVALID_PARAMETER")
    func backingTooSmall() throws {
        let h = try Harness()
        let bytes = Self.pattern(128, seed: 9)
        try h.guest.write(bytes, at: TestGuest.base1)
        #expect(h.code(Req.create(1, 2, 8, 4)) == .okNoData)
        #expect(h.code(Req.attach(1, [(TestGuest.base1, 100)])) == .okNoData)
        #expect(h.code(Req.transfer(1, R(0, 0, 8, 4))) == .errInvalidParameter)   // needs 128
        #expect(Self.shown(h, 1, 8, 4) == [UInt8](repeating: 0, count: 128))     // nothing copied
        #expect(h.code(Req.transfer(1, R(0, 0, 8, 3))) == .okNoData)             // 96 fit
        // Last row, 1 pixel, offset so the pixel ends exactly at byte 100: fits; one more byte does not.
        #expect(h.code(Req.transfer(1, R(0, 3, 1, 1), offset: 96)) == .okNoData)
        #expect(h.code(Req.transfer(1, R(0, 3, 1, 1), offset: 97)) == .errInvalidParameter)
    }

    @Test("GPU2D-5.2: TRANSFER_TO_HOST_2D offset past the backing is ERR_INVALID_PARAMETER")
    func offsetPastBacking() throws {
        let h = try Harness()
        try h.makeResource(1, 8, 4, bytes: Self.pattern(128, seed: 2))
        for off: UInt64 in [128, 1 << 32, .max, .max - 3] {
            #expect(h.code(Req.transfer(1, R(0, 0, 1, 1), offset: off)) == .errInvalidParameter)
        }
        #expect(Self.shown(h, 1, 8, 4) == Self.pattern(128, seed: 2))
    }

    @Test("GPU2D-5.2: TRANSFER_TO_HOST_2D re-checks backing against the current guest memory")
    func memoryChanged() throws {
        let h = try Harness()
        let old = Self.pattern(128, seed: 4), new = Self.pattern(128, seed: 44)
        // Backing: the first 64 bytes in region 0, the rest in region 1.
        try h.guest.write(Array(old[..<64]), at: TestGuest.base0)
        try h.guest.write(Array(old[64...]), at: TestGuest.base1)
        #expect(h.code(Req.create(1, 2, 8, 4)) == .okNoData)
        #expect(h.code(Req.attach(1, [(TestGuest.base0, 64), (TestGuest.base1, 64)])) == .okNoData)
        #expect(h.code(Req.transfer(1, R(0, 0, 8, 4))) == .okNoData)
        try h.guest.write(Array(new[..<64]), at: TestGuest.base0)
        try h.guest.write(Array(new[64...]), at: TestGuest.base1)
        // Region 1 is gone from the memory table now: nothing is copied, not even the rows still readable.
        let shrunk = DMASpace(memory: h.guest.onlyFirstRegion)
        #expect(h.code(Req.transfer(1, R(0, 0, 8, 4)), dma: shrunk) == .errInvalidParameter)
        #expect(h.code(Req.transfer(1, R(1, 1, 2, 3), offset: 36), dma: shrunk) == .errInvalidParameter)
        #expect(Self.shown(h, 1, 8, 4) == old)
        #expect(h.code(Req.transfer(1, R(0, 0, 8, 2)), dma: shrunk) == .okNoData)   // rows in region 0 still work
    }

    @Test("GPU2D-5: TRANSFER_TO_HOST_2D of an unknown resource is ERR_INVALID_RESOURCE_ID; empty rect is a no-op")
    func unknownAndEmpty() throws {
        let h = try Harness()
        #expect(h.code(Req.transfer(7, R(0, 0, 1, 1))) == .errInvalidResourceID)
        #expect(h.code(Req.transfer(0, R(0, 0, 1, 1))) == .errInvalidResourceID)
        try h.makeResource(1, 8, 4)
        #expect(h.code(Req.transfer(1, R(8, 4, 0, 0))) == .okNoData)
    }
}
