// SET_SCANOUT, RESOURCE_FLUSH and format conversion into the BGRX DisplaySet (GPU2D-5), incl. multi-scanout.
import Display
import Testing
@testable import VirtioGPU

@Suite struct GPUScanoutTests {
    static let colours = [Colour(r: 0xff, g: 0x00, b: 0x00, a: 0x80), Colour(r: 0x00, g: 0xff, b: 0x00, a: 0x11),
                          Colour(r: 0x12, g: 0x34, b: 0x56, a: 0xff), Colour(r: 0xfe, g: 0xdc, b: 0xba, a: 0x00)]

    @Test("GPU2D-5: every format shows true colours as B,G,R,X in the scanout", arguments: GPUFormat.allCases)
    func formats(_ format: GPUFormat) throws {
        let h = try Harness()
        try h.makeResource(1, format: format, 2, 2, bytes: Self.colours.flatMap { $0.bytes(format) })
        #expect(h.code(Req.setScanout(0, 1, R(0, 0, 2, 2))) == .okNoData)
        for (i, c) in Self.colours.enumerated() {
            #expect(h.pixel(0, i % 2, i / 2) == c.bgra, "pixel \(i) of \(format)")
        }
    }

    @Test("GPU2D-5: SET_SCANOUT enables the scanout, then copies and announces the whole picture")
    func setScanoutEvents() throws {
        let h = try Harness()
        try h.makeResource(1, 8, 4, bytes: (0..<32).flatMap { [UInt8($0), 0, 0, 0] })
        let r = h.send(Req.setScanout(1, 1, R(2, 1, 4, 2)))
        #expect(Harness.type(of: r.response) == .okNoData)
        #expect(r.events == [.scanout(index: 1, width: 4, height: 2), .update(index: 1, rect: R(0, 0, 4, 2))])
        #expect(h.pixel(1, 0, 0) == [10, 0, 0, 0])          // resource pixel (2,1)
        #expect(h.pixel(1, 3, 1) == [21, 0, 0, 0])          // resource pixel (5,2)
        #expect(h.displays.snapshot(0) == nil)
    }

    @Test("GPU2D-5: SET_SCANOUT with resource 0 disables the scanout")
    func disable() throws {
        let h = try Harness()
        try h.makeResource(1, 4, 4)
        #expect(h.code(Req.setScanout(0, 1, R(0, 0, 4, 4))) == .okNoData)
        #expect(h.code(Req.setScanout(0, 0, R(0, 0, 0, 0))) == .okNoData)
        #expect(h.lastEvents == [.scanout(index: 0, width: 0, height: 0)])
        #expect(h.displays.snapshot(0) == nil)
        #expect(h.code(Req.flush(1, R(0, 0, 4, 4))) == .okNoData)
        #expect(h.lastEvents.isEmpty)                          // no longer shown
    }

    @Test("GPU2D-5: SET_SCANOUT with scanout id >= num_scanouts is ERR_INVALID_SCANOUT_ID")
    func badScanoutID() throws {
        let h = try Harness(scanouts: 2)
        try h.makeResource(1, 4, 4)
        #expect(h.code(Req.setScanout(2, 1, R(0, 0, 4, 4))) == .errInvalidScanoutID)
        #expect(h.code(Req.setScanout(.max, 0, R(0, 0, 4, 4))) == .errInvalidScanoutID)
        #expect(h.lastEvents.isEmpty)
        #expect(h.displays.info().allSatisfy { !$0.enabled })
    }

    @Test("GPU2D-5: SET_SCANOUT rect outside the resource (or empty) is ERR_INVALID_PARAMETER")
    func badRect() throws {
        let h = try Harness()
        try h.makeResource(1, 4, 4)
        for r in [R(0, 0, 5, 4), R(1, 0, 4, 4), R(0, 0, 0, 4), R(.max, .max, 2, 2)] {
            #expect(h.code(Req.setScanout(0, 1, r)) == .errInvalidParameter)
        }
        #expect(h.displays.snapshot(0) == nil)
        #expect(h.code(Req.setScanout(0, 9, R(0, 0, 4, 4))) == .errInvalidResourceID)
        #expect(h.displays.snapshot(0) == nil)
    }

    @Test("GPU2D-5: RESOURCE_FLUSH updates every scanout showing the resource, clipped to its rect")
    func multiScanoutFlush() throws {
        let h = try Harness(scanouts: 3)
        try h.makeResource(1, 8, 4)
        try h.makeResource(2, 8, 4, at: TestGuest.base0)
        #expect(h.code(Req.setScanout(0, 1, R(0, 0, 4, 4))) == .okNoData)      // left half
        #expect(h.code(Req.setScanout(1, 1, R(4, 0, 4, 4))) == .okNoData)      // right half
        #expect(h.code(Req.setScanout(2, 2, R(0, 0, 8, 4))) == .okNoData)      // another resource
        // New content in resource 1's backing: pixel (x,y) = [x, y, 0xaa, 0xbb].
        let bytes: [UInt8] = (0..<32).flatMap { (i: Int) -> [UInt8] in [UInt8(i % 8), UInt8(i / 8), 0xaa, 0xbb] }
        try h.guest.write(bytes, at: TestGuest.base1)
        #expect(h.code(Req.transfer(1, R(0, 0, 8, 4))) == .okNoData)
        #expect(h.pixel(0, 2, 1) == [0, 0, 0, 0])                              // not flushed yet
        let r = h.send(Req.flush(1, R(2, 1, 4, 2)))
        #expect(Harness.type(of: r.response) == .okNoData)
        #expect(r.events == [.update(index: 0, rect: R(2, 1, 2, 2)), .update(index: 1, rect: R(0, 1, 2, 2))])
        #expect(h.pixel(0, 2, 1) == [2, 1, 0xaa, 0xbb])
        #expect(h.pixel(0, 3, 2) == [3, 2, 0xaa, 0xbb])
        #expect(h.pixel(0, 1, 1) == [0, 0, 0, 0])                              // outside the flush rect
        #expect(h.pixel(1, 0, 1) == [4, 1, 0xaa, 0xbb])
        #expect(h.pixel(1, 1, 2) == [5, 2, 0xaa, 0xbb])
        #expect(h.pixel(1, 2, 1) == [0, 0, 0, 0])
        #expect(h.pixel(2, 2, 1) == [0, 0, 0, 0])                              // other resource untouched
        // A flush outside a scanout's source rect does not touch it.
        #expect(h.send(Req.flush(1, R(5, 0, 3, 1))).events == [.update(index: 1, rect: R(1, 0, 3, 1))])
    }

    @Test("GPU2D-5: RESOURCE_FLUSH rect outside the resource is ERR_INVALID_PARAMETER; nothing is shown")
    func flushBadRect() throws {
        let h = try Harness()
        try h.makeResource(1, 4, 4)
        #expect(h.code(Req.setScanout(0, 1, R(0, 0, 4, 4))) == .okNoData)
        try h.guest.write([UInt8](repeating: 0x55, count: 64), at: TestGuest.base1)
        #expect(h.code(Req.transfer(1, R(0, 0, 4, 4))) == .okNoData)
        let before = h.displays.snapshot(0)!.frameCounter
        for r in [R(0, 0, 5, 1), R(3, 3, 2, 1), R(.max, 0, 2, 2)] {
            #expect(h.code(Req.flush(1, r)) == .errInvalidParameter)
            #expect(h.lastEvents.isEmpty)
        }
        #expect(h.displays.snapshot(0)!.frameCounter == before)
        #expect(h.pixel(0, 0, 0) == [0, 0, 0, 0])
        #expect(h.code(Req.flush(9, R(0, 0, 1, 1))) == .errInvalidResourceID)
        #expect(h.code(Req.flush(1, R(0, 0, 4, 4))) == .okNoData)
        #expect(h.pixel(0, 0, 0) == [0x55, 0x55, 0x55, 0x55])
    }
}
