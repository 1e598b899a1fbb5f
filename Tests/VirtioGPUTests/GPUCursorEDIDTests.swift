// UPDATE_CURSOR / MOVE_CURSOR on the cursor queue, and GET_EDID (GPU2D-5).
import Display
import Testing
import Wire
@testable import VirtioGPU

@Suite struct GPUCursorEDIDTests {
    @Test("GPU2D-5: UPDATE_CURSOR copies the resource as B,G,R,A with hot spot and position")
    func updateCursor() throws {
        let h = try Harness()
        let c = Colour(r: 0x10, g: 0x20, b: 0x30, a: 0x40)
        try h.makeResource(5, format: .a8r8g8b8Unorm, 64, 64, bytes: (0..<4096).flatMap { _ in c.bytes(.a8r8g8b8Unorm) })
        let serial = h.displays.cursor.imageSerial
        let r = h.send(Req.cursor(.updateCursor, scanout: 1, x: 100, y: 50, id: 5, hot: (3, 4)), queue: .cursor)
        #expect(r.response.count == 24 && Harness.type(of: r.response) == .okNoData)
        let cur = h.displays.cursor
        #expect(cur.visible && cur.scanout == 1 && cur.x == 100 && cur.y == 50 && cur.hotX == 3 && cur.hotY == 4)
        #expect(cur.imageSerial == serial + 1)
        #expect(cur.image.count == 64 * 64 * 4)
        #expect(Array(cur.image[0..<4]) == c.bgra && Array(cur.image.suffix(4)) == c.bgra)
        #expect(r.events == [.cursorUpdate(cur)])
    }

    @Test("GPU2D-5: a cursor without alpha is opaque; a small one sits top-left in 64x64")
    func cursorOpaqueSmall() throws {
        let h = try Harness()
        let c = Colour(r: 1, g: 2, b: 3, a: 0)
        try h.makeResource(5, format: .r8g8b8x8Unorm, 2, 2, bytes: (0..<4).flatMap { _ in c.bytes(.r8g8b8x8Unorm) })
        #expect(h.code(Req.cursor(.updateCursor, x: 0, y: 0, id: 5), queue: .cursor) == .okNoData)
        let img = h.displays.cursor.image
        #expect(Array(img[0..<4]) == [3, 2, 1, 0xff])
        #expect(Array(img[64 * 4 + 4..<64 * 4 + 8]) == [3, 2, 1, 0xff])   // (1,1)
        #expect(Array(img[8..<12]) == [0, 0, 0, 0])                        // (2,0): transparent
    }

    @Test("GPU2D-5: UPDATE_CURSOR with resource 0 hides the cursor")
    func hide() throws {
        let h = try Harness()
        try h.makeResource(5, 64, 64)
        #expect(h.code(Req.cursor(.updateCursor, x: 1, y: 1, id: 5), queue: .cursor) == .okNoData)
        #expect(h.code(Req.cursor(.updateCursor, x: 1, y: 1, id: 0), queue: .cursor) == .okNoData)
        #expect(!h.displays.cursor.visible && h.displays.cursor.image.isEmpty)
        #expect(h.lastEvents == [.cursorUpdate(h.displays.cursor)])
    }

    @Test("GPU2D-5: MOVE_CURSOR only moves")
    func move() throws {
        let h = try Harness()
        try h.makeResource(5, 64, 64)
        #expect(h.code(Req.cursor(.updateCursor, x: 1, y: 1, id: 5, hot: (2, 2)), queue: .cursor) == .okNoData)
        let before = h.displays.cursor
        // MOVE_CURSOR's resource and hot spot fields are ignored.
        #expect(h.code(Req.cursor(.moveCursor, scanout: 1, x: 30, y: 40, id: 99, hot: (9, 9)), queue: .cursor) == .okNoData)
        #expect(h.lastEvents == [.cursorMove(scanout: 1, x: 30, y: 40)])
        var expected = before
        expected.scanout = 1; expected.x = 30; expected.y = 40
        #expect(h.displays.cursor == expected)
    }

    @Test("GPU2D-5: UPDATE_CURSOR with a bad resource, size, hot spot or scanout changes nothing")
    func badCursor() throws {
        let h = try Harness(scanouts: 1)
        try h.makeResource(5, 65, 1)
        try h.makeResource(6, 64, 64, at: TestGuest.base0)
        let before = h.displays.cursor
        #expect(h.code(Req.cursor(.updateCursor, x: 1, y: 1, id: 9), queue: .cursor) == .errInvalidResourceID)
        #expect(h.code(Req.cursor(.updateCursor, x: 1, y: 1, id: 5), queue: .cursor) == .errInvalidParameter)
        #expect(h.code(Req.cursor(.updateCursor, x: 1, y: 1, id: 6, hot: (64, 0)), queue: .cursor) == .errInvalidParameter)
        #expect(h.code(Req.cursor(.updateCursor, scanout: 1, x: 1, y: 1, id: 6), queue: .cursor) == .errInvalidScanoutID)
        #expect(h.code(Req.cursor(.moveCursor, scanout: 1, x: 1, y: 1), queue: .cursor) == .errInvalidScanoutID)
        #expect(h.displays.cursor == before)
        #expect(h.lastEvents.isEmpty)
    }

    static func edidBlob(_ resp: [UInt8]) throws -> [UInt8] {
        var r = WireReader(resp)
        #expect(try r.read(UInt32.self) == GPUResponseType.okEDID.rawValue)
        try r.skip(20)
        let size = Int(try r.read(UInt32.self))
        try r.skip(4)
        let all = r.readRemaining()
        #expect(all.count == 1024)
        #expect(all[size...].allSatisfy { $0 == 0 })
        return Array(all.prefix(size))
    }

    @Test("GPU2D-5: GET_EDID generates a valid 128-byte EDID whose preferred timing is the scanout's mode")
    func generatedEDID() throws {
        let h = try Harness(scanouts: 2, width: 1920, height: 1080)
        let e = try Self.edidBlob(h.send(Req.edid(1)).response)
        #expect(e.count == 128)
        #expect(Array(e[0..<8]) == [0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0])
        #expect(e.reduce(UInt8(0)) { $0 &+ $1 } == 0)
        #expect(Int(e[56]) | Int(e[58] >> 4) << 8 == 1920)
        #expect(Int(e[59]) | Int(e[61] >> 4) << 8 == 1080)
        #expect(Int(e[54]) | Int(e[55]) << 8 > 0)                         // pixel clock
        #expect(Array(e[72..<78]) == [0, 0, 0, 0xfc, 0, UInt8(ascii: "V")])
        #expect(String(decoding: e[77..<82], as: UTF8.self) == "Vireo")
    }

    @Test("GPU2D-5: GET_EDID answers the frontend's EDID when given")
    func frontendEDID() throws {
        let h = try Harness()
        let blob = (0..<256).map { UInt8($0) }
        h.device.frontendEDID[0] = blob
        #expect(try Self.edidBlob(h.send(Req.edid(0)).response) == blob)
        #expect(try Self.edidBlob(h.send(Req.edid(1)).response).count == 128)
    }

    @Test("GPU2D-5: GET_EDID needs VIRTIO_GPU_F_EDID and a valid scanout")
    func edidErrors() throws {
        let h = try Harness(scanouts: 2)
        #expect(h.code(Req.edid(2)) == .errInvalidScanoutID)
        h.device.setNegotiatedFeatures(0)
        #expect(h.code(Req.edid(0)) == .errUnspec)
    }
}
