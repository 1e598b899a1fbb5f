// The whole frame path over real sockets, memfd guest RAM and eventfds: the driver's commands reach the
// device through the vrings, the picture lands in Vireo's DisplaySet and on the frontend's side channel.
import Display
import Foundation
import Testing
import VireoServer
import VireoTestSupport
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
