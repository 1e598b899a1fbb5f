// The whole frame path over real sockets, memfd guest RAM and eventfds: the driver's commands reach the
// device through the vrings, the picture lands in Vireo's DisplaySet and on the frontend's side channel.
import Display
import Foundation
import Testing
import VireoServer
import VireoTestSupport
import VhostUser
import Wire

/// A BGRX test picture with distinct values per pixel.
func testPattern(width: Int, height: Int, seed: UInt8 = 0) -> [UInt8] {
    var p = [UInt8](repeating: 0, count: width * height * 4)
    for y in 0..<height {
        for x in 0..<width {
            let i = (y * width + x) * 4
            p[i] = UInt8(truncatingIfNeeded: x &+ Int(seed)); p[i + 1] = UInt8(truncatingIfNeeded: y)
            p[i + 2] = UInt8(truncatingIfNeeded: x ^ y); p[i + 3] = 0xff
        }
    }
    return p
}

let okNoData: UInt32 = 0x1100

/// Creates resource `id` (B8G8R8X8), backs it with `pixels`, shows it on `scanout` and flushes it.
func showPicture(_ bench: GPUTestBench, id: UInt32 = 1, width: UInt32, height: UInt32, pixels: [UInt8],
                 scanout: UInt32 = 0, pieces: Int = 3) throws {
    let full = Rect(x: 0, y: 0, width: width, height: height)
    #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.create2D(id, format: 2, width: width, height: height)))) == okNoData)
    #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.attachBacking(id, bench.backing(pixels, pieces: pieces))))) == okNoData)
    #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.transfer(id, full)))) == okNoData)
    #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.setScanout(scanout, id, full)))) == okNoData)
    #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.flush(id, full)))) == okNoData)
}

@Suite struct FramePathTests {
    @Test("GPU2D-5: GET_DISPLAY_INFO over a real vring reports the configured display")
    func displayInfo() throws {
        let bench = try GPUTestBench()
        let resp = try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408))
        #expect(resp.count == 408)
        var r = WireReader(resp)
        #expect(try r.read(UInt32.self) == 0x1101)
        try r.skip(20)
        #expect(try r.read(UInt32.self) == 0)       // x
        #expect(try r.read(UInt32.self) == 0)       // y
        #expect(try r.read(UInt32.self) == 1280)
        #expect(try r.read(UInt32.self) == 800)
        #expect(try r.read(UInt32.self) == 1)       // enabled
    }

    @Test("GPU2D-5.2: a frame goes guest backing -> resource -> scanout, pixel-exact, split backing across regions")
    func frameReachesDisplay() throws {
        let bench = try GPUTestBench()
        let pixels = testPattern(width: 64, height: 48)
        try showPicture(bench, width: 64, height: 48, pixels: pixels)
        let frame = try #require(bench.server?.displays?.snapshot(0))
        #expect(frame.width == 64 && frame.height == 48)
        #expect(frame.pixels == pixels)
    }

    @Test("Side channel: display info comes from the frontend; SCANOUT and UPDATE carry the exact picture")
    func sideChannelPicture() throws {
        let fake = try FakeDisplayFrontend(modes: [(800, 600)])
        defer { fake.stop() }
        let bench = try GPUTestBench(sideChannel: fake)
        let resp = try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408))
        var r = WireReader(resp)
        try r.skip(32)
        #expect(try r.read(UInt32.self) == 800)
        #expect(try r.read(UInt32.self) == 600)
        let pixels = testPattern(width: 40, height: 30, seed: 7)
        try showPicture(bench, width: 40, height: 30, pixels: pixels)
        #expect(fake.wait { $0.surface(0)?.pixels == pixels })
        // A damage flush sends only its rectangle.
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.flush(1, Rect(x: 8, y: 4, width: 5, height: 6))))) == okNoData)
        #expect(fake.wait { f in f.updateRects.last.map { $0.x == 8 && $0.y == 4 && $0.w == 5 && $0.h == 6 } ?? false })
    }

    @Test("Side channel: a page flip (SET_SCANOUT, then a whole flush) sends SCANOUT alone and the pixels once, as QEMU's backend")
    func pageFlipSendsPixelsOnce() throws {
        let fake = try FakeDisplayFrontend(modes: [(40, 30)])
        defer { fake.stop() }
        let bench = try GPUTestBench(sideChannel: fake)
        try showPicture(bench, width: 40, height: 30, pixels: testPattern(width: 40, height: 30, seed: 1))
        #expect(fake.waitForUpdates(atLeast: 1))
        let before = fake.updateCount
        let full = Rect(x: 0, y: 0, width: 40, height: 30)
        let second = testPattern(width: 40, height: 30, seed: 2)
        for request in [GPURequest.create2D(2, format: 2, width: 40, height: 30),
                        GPURequest.attachBacking(2, bench.backing(second, pieces: 1)), GPURequest.transfer(2, full),
                        GPURequest.setScanout(0, 2, full)] {
            #expect(GPURequest.responseType(try #require(bench.submit(request))) == okNoData)
        }
        // Vireo's own copy shows the new resource at once (copied just after the answer); the display end gets no
        // pixels until the flush.
        let deadline = Date() + 5
        while bench.server?.displays?.snapshot(0)?.pixels != second && Date() < deadline { usleep(1000) }
        let shown = bench.server?.displays?.snapshot(0)?.pixels == second
        #expect(shown, "Vireo's copy does not show the new resource")
        #expect(fake.updateCount == before, "SET_SCANOUT sent an UPDATE")
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.flush(2, full)))) == okNoData)
        #expect(fake.waitForUpdates(atLeast: before + 1))
        #expect(fake.wait { $0.surface(0)?.pixels == second })
        #expect(fake.updateCount == before + 1)
    }

    @Test("Side channel: UPDATE of a R8G8B8A8 resource is converted to x8r8g8b8; partial rows; DisplaySet agrees")
    func sideChannelConvertedFormat() throws {
        let fake = try FakeDisplayFrontend(modes: [(32, 16)])
        defer { fake.stop() }
        let bench = try GPUTestBench(sideChannel: fake)
        let bgrx = testPattern(width: 32, height: 16, seed: 3)
        var rgba = bgrx
        for i in stride(from: 0, to: rgba.count, by: 4) { rgba.swapAt(i, i + 2) }
        let full = Rect(x: 0, y: 0, width: 32, height: 16)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.create2D(1, format: 67, width: 32, height: 16)))) == okNoData)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.attachBacking(1, bench.backing(rgba, pieces: 2))))) == okNoData)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.transfer(1, full)))) == okNoData)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.setScanout(0, 1, full)))) == okNoData)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.flush(1, Rect(x: 3, y: 2, width: 20, height: 9))))) == okNoData)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.flush(1, full)))) == okNoData)
        #expect(fake.wait { $0.surface(0)?.pixels == bgrx })
        #expect(bench.server?.displays?.snapshot(0)?.pixels == bgrx)
    }

    @Test("Indirect descriptors and split requests are gathered like direct ones")
    func indirectAndSplit() throws {
        let bench = try GPUTestBench(indirect: true)
        let resp = try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408, splitAt: 10))
        #expect(GPURequest.responseType(resp) == 0x1101)
    }

    @Test("EVENT_IDX off: the device still answers and notifies")
    func withoutEventIdx() throws {
        let bench = try GPUTestBench(withoutFeatures: 1 << 29)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408))) == 0x1101)
    }
}

@Suite struct SideChannelTests {
    @Test("GPU2D-5: cursor: UPDATE_CURSOR sends CURSOR_UPDATE, MOVE_CURSOR sends CURSOR_POS, resource 0 hides")
    func cursor() throws {
        let fake = try FakeDisplayFrontend(modes: [(640, 480)])
        defer { fake.stop() }
        let bench = try GPUTestBench(sideChannel: fake)
        let image = testPattern(width: 64, height: 64)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.create2D(9, format: 1, width: 64, height: 64)))) == okNoData)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.attachBacking(9, bench.backing(image))))) == okNoData)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.transfer(9, Rect(x: 0, y: 0, width: 64, height: 64))))) == okNoData)
        _ = bench.submit(GPURequest.updateCursor(scanout: 0, x: 10, y: 20, resource: 9, hotX: 1, hotY: 2), queue: 1)
        #expect(fake.wait { $0.cursorImages == 1 })
        let cursor = try #require(bench.server?.displays?.cursor)
        #expect(cursor.visible && cursor.x == 10 && cursor.y == 20 && cursor.hotX == 1 && cursor.hotY == 2)
        #expect(cursor.image == image)   // B8G8R8A8: the bytes as they are
        _ = bench.submit(GPURequest.moveCursor(scanout: 0, x: 30, y: 40), queue: 1)
        #expect(fake.wait { f in f.cursorPositions.last.map { $0.1 == 30 && $0.2 == 40 && $0.3 } ?? false })
        _ = bench.submit(GPURequest.updateCursor(scanout: 0, x: 30, y: 40, resource: 0), queue: 1)
        #expect(fake.wait { f in f.cursorPositions.last.map { !$0.3 } ?? false })
    }

    @Test("GPU2D-5: multi-scanout: each scanout gets its own SCANOUT/UPDATE and DisplaySet frame")
    func multiScanout() throws {
        var config = ServerConfig()
        config.displays = [DisplayMode(enabled: true, width: 320, height: 200), DisplayMode(enabled: true, width: 160, height: 100)]
        let fake = try FakeDisplayFrontend(modes: [(320, 200), (160, 100)])
        defer { fake.stop() }
        let bench = try GPUTestBench(config: config, sideChannel: fake)
        let config16 = try bench.frontend.getConfig()
        #expect(config16[8] == 2)   // num_scanouts
        let a = testPattern(width: 32, height: 20, seed: 1), b = testPattern(width: 16, height: 10, seed: 2)
        try showPicture(bench, id: 1, width: 32, height: 20, pixels: a, scanout: 0)
        try showPicture(bench, id: 2, width: 16, height: 10, pixels: b, scanout: 1)
        #expect(bench.server?.displays?.snapshot(0)?.pixels == a)
        #expect(bench.server?.displays?.snapshot(1)?.pixels == b)
        #expect(fake.wait { $0.surface(0)?.pixels == a && $0.surface(1)?.pixels == b })
        // Scanout 2 does not exist: ERR_INVALID_SCANOUT_ID, nothing changes.
        let resp = try #require(bench.submit(GPURequest.setScanout(2, 1, Rect(x: 0, y: 0, width: 32, height: 20))))
        #expect(GPURequest.responseType(resp) == 0x1202)
    }

    @Test("--trace-flushes: one line per RESOURCE_FLUSH (wall-clock time, resource, rectangle), none for other commands")
    func flushTrace() throws {
        let path = NSTemporaryDirectory() + "vireo-flush-trace-\(ProcessInfo.processInfo.processIdentifier).log"
        try? FileManager.default.removeItem(atPath: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var config = ServerConfig()
        config.flushTrace = try FlushTrace(path: path)
        let bench = try GPUTestBench(config: config)
        let before = Date().timeIntervalSince1970
        try showPicture(bench, id: 7, width: 8, height: 8, pixels: testPattern(width: 8, height: 8))
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.flush(7, Rect(x: 1, y: 2, width: 3, height: 4))))) == okNoData)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ") }
        #expect(lines.map { $0.dropFirst().joined(separator: " ") } == ["flush res=7 x=0 y=0 w=8 h=8", "flush res=7 x=1 y=2 w=3 h=4"])
        for line in lines {
            let time = try #require(Double(line[0]))
            #expect(time >= before - 1 && time <= Date().timeIntervalSince1970 + 1, "wall-clock seconds: \(line[0])")
            #expect(line[0].split(separator: ".").last?.count == 6, "microseconds: \(line[0])")
        }
    }

    @Test("A side channel that stops answering is dropped; the guest keeps being served")
    func deadSideChannel() throws {
        let fake = try FakeDisplayFrontend(modes: [(640, 480)])
        fake.stop()   // nobody answers GET_PROTOCOL_FEATURES any more
        let bench = try GPUTestBench(sideChannel: fake)
        // The backend waits for the reply at most GPUSideChannel.replyTimeoutMS (5 s), then drops the channel.
        let resp = try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408, timeout: 15))
        #expect(GPURequest.responseType(resp) == 0x1101)
        let pixels = testPattern(width: 8, height: 8)
        try showPicture(bench, width: 8, height: 8, pixels: pixels)
        #expect(bench.server?.displays?.snapshot(0)?.pixels == pixels)
    }
}

@Suite struct DisplayEventTests {
    @Test("GPU2D-4/5: a changed display configuration raises VIRTIO_GPU_EVENT_DISPLAY; events_clear clears it")
    func displayEvent() throws {
        let fake = try FakeDisplayFrontend(modes: [(800, 600)])
        defer { fake.stop() }
        let bench = try GPUTestBench(sideChannel: fake)
        _ = try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408))
        #expect(try bench.frontend.getConfig()[0] == 0)   // events_read
        fake.setModes([(1024, 768)])
        let resp = try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408))
        var r = WireReader(resp)
        try r.skip(32)
        #expect(try r.read(UInt32.self) == 1024)
        #expect(try bench.frontend.getConfig()[0] == 1)   // VIRTIO_GPU_EVENT_DISPLAY
        _ = try bench.frontend.request(.setConfig, payload: VhostUserConfig(offset: 4, size: 4, flags: 0, payload: [1, 0, 0, 0]).encoded)
        #expect(try bench.frontend.getConfig()[0] == 0)
    }
}
