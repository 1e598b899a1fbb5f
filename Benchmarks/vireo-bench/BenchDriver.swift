// BenchDriver: the guest driver and the hypervisor's display end for one backend process, built from
// VireoTestSupport (GPUTestBench over the backend's socket, FakeDisplayFrontend on the side channel). It sets up a
// 1920x1080 B8G8R8X8 scanout and times the three operations on preallocated guest buffers.
import Display
import Foundation
import VhostUser
import VireoTestSupport

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

final class BenchDriver {
    static let width: UInt32 = 1920, height: UInt32 = 1080
    static let resourceID: UInt32 = 1
    static let okNoData: UInt32 = 0x1100, okDisplayInfo: UInt32 = 0x1101
    /// Backing entries of the framebuffer: a guest's framebuffer is scattered over pages; 64 KiB pieces.
    static let backingPieceBytes = 64 << 10

    let name: String
    let bench: GPUTestBench
    let display: FakeDisplayFrontend
    let picture: [UInt8]
    private let reqA: UInt64, reqB: UInt64, respA: UInt64, respB: UInt64, respInfo: UInt64

    init(name: String, socketPath: String) throws {
        self.name = name
        display = try FakeDisplayFrontend(modes: [(Self.width, Self.height)])
        let ram = try GuestRAM(regionSize: 32 << 20)
        // EDID off: QEMU's backend exits when the guest feature is on and this display end lacks the EDID
        // protocol. Protocol features: the ones both backends and QEMU's frontend use here.
        let keep = VhostUserProtocolFeature.replyAck.mask | VhostUserProtocolFeature.config.mask
        bench = try GPUTestBench(connectingTo: socketPath, ram: ram, sideChannel: display,
                                 withoutFeatures: 1 << 1, withoutProtocolFeatures: ~keep)
        reqA = ram.allocate(64, align: 64)
        reqB = ram.allocate(64, align: 64)
        respA = ram.allocate(64, align: 64)
        respB = ram.allocate(64, align: 64)
        respInfo = ram.allocate(512, align: 64)
        picture = Self.desktopPicture()
        try setUp()
    }

    private func expect(_ response: [UInt8]?, _ type: UInt32, _ what: String) throws {
        guard let response else { throw BenchFailure("\(name): no response to \(what)") }
        let got = GPURequest.responseType(response) ?? 0
        guard got == type else { throw BenchFailure("\(name): \(what) answered 0x\(String(got, radix: 16))") }
    }

    /// GET_DISPLAY_INFO (must say 1920x1080, from the display end), create, attach, scanout; then one full frame
    /// with the picture kept, checked pixel for pixel against the guest's framebuffer (B, G, R bytes).
    private func setUp() throws {
        let info = bench.submit(GPURequest.getDisplayInfo(), responseSize: 408)
        try expect(info, Self.okDisplayInfo, "GET_DISPLAY_INFO")
        let mode = info!.withUnsafeBytes { (w: $0.load(fromByteOffset: 32, as: UInt32.self),
                                           h: $0.load(fromByteOffset: 36, as: UInt32.self)) }
        guard mode.w == Self.width, mode.h == Self.height else {
            throw BenchFailure("\(name): GET_DISPLAY_INFO says \(mode.w)x\(mode.h), not the display end's 1920x1080")
        }
        let b8g8r8x8: UInt32 = 2
        try expect(bench.submit(GPURequest.create2D(Self.resourceID, format: b8g8r8x8, width: Self.width,
                                                    height: Self.height)), Self.okNoData, "RESOURCE_CREATE_2D")
        let entries = bench.backing(picture, pieces: (picture.count + Self.backingPieceBytes - 1) / Self.backingPieceBytes)
        try expect(bench.submit(GPURequest.attachBacking(Self.resourceID, entries)), Self.okNoData, "ATTACH_BACKING")
        try expect(bench.submit(GPURequest.setScanout(0, Self.resourceID, Self.full)), Self.okNoData, "SET_SCANOUT")
        guard display.wait({ $0.surface(0) != nil }) else { throw BenchFailure("\(name): no SCANOUT on the side channel") }
        // Vireo also sends the scanout's current (black) picture after SET_SCANOUT: let it land before counting.
        Thread.sleep(forTimeInterval: 0.2)
        _ = try transferFlush(Self.full)
        guard let shown = display.surface(0) else { throw BenchFailure("\(name): scanout vanished") }
        var wrong = 0
        for i in stride(from: 0, to: picture.count, by: 4) where shown.pixels[i..<i + 3] != picture[i..<i + 3] { wrong += 1 }
        guard wrong == 0 else { throw BenchFailure("\(name): \(wrong) pixels differ on the display end") }
        display.setKeepsPictures(false)
    }

    static let full = Rect(x: 0, y: 0, width: width, height: height)

    /// A 1080p desktop-like picture: a vertical gradient, a task bar, windows with title bars and text-like rows.
    static func desktopPicture() -> [UInt8] {
        let w = Int(width), h = Int(height)
        var px = [UInt8](repeating: 0, count: w * h * 4)
        px.withUnsafeMutableBytes { p in
            func fill(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ b: UInt8, _ g: UInt8, _ r: UInt8) {
                for y in max(0, y0)..<min(h, y1) {
                    for x in max(0, x0)..<min(w, x1) {
                        let i = (y * w + x) * 4
                        p[i] = b; p[i + 1] = g; p[i + 2] = r; p[i + 3] = 0
                    }
                }
            }
            for y in 0..<h { fill(0, y, w, y + 1, UInt8(80 + y * 100 / h), UInt8(40 + y * 60 / h), 20) }
            fill(0, h - 40, w, h, 0x30, 0x30, 0x30)
            for (n, (x, y, ww, hh)) in [(120, 90, 900, 620), (700, 300, 1000, 600), (1500, 60, 380, 420)].enumerated() {
                fill(x, y, x + ww, y + hh, 0xf0, 0xf0, 0xf0)
                fill(x, y, x + ww, y + 28, n == 1 ? 0xc0 : 0x90, 0x60, 0x30)
                for row in stride(from: y + 44, to: y + hh - 16, by: 18) {
                    var x0 = x + 16
                    while x0 < x + ww - 80 {
                        let word = 20 + (x0 * 7 + row * 13) % 60
                        fill(x0, row, x0 + word, row + 10, 0x20, 0x20, 0x20)
                        x0 += word + 8
                    }
                }
            }
        }
        return px
    }

    /// One timed operation: `latency` is from the submit to the event that ends it (the UPDATE fully received
    /// by the display end, or the used entry), `total` until everything (used entries too) has come back.
    struct Sample { var latency: UInt64; var total: UInt64 }

    /// TRANSFER_TO_HOST_2D + RESOURCE_FLUSH of `r` in one kick (as a guest's dirty-fb path does); done when both
    /// answered OK and the display end has received the UPDATE with the pixels.
    func transferFlush(_ r: Rect) throws -> Sample {
        let stride = UInt64(Self.width) * 4
        let offset = UInt64(r.y) * stride + UInt64(r.x) * 4
        bench.ram.write(GPURequest.transfer(Self.resourceID, r, offset: offset), at: reqA)
        bench.ram.write(GPURequest.flush(Self.resourceID, r), at: reqB)
        let before = display.updateCount
        let ring = bench.controlq
        let start = DispatchTime.now().uptimeNanoseconds
        let a = ring.addChain([.init(address: reqA, length: 56, writable: false),
                               .init(address: respA, length: 24, writable: true)])
        ring.publish(a)
        let b = ring.addChain([.init(address: reqB, length: 48, writable: false),
                               .init(address: respB, length: 24, writable: true)])
        ring.publish(b)
        ring.notify()
        guard ring.waitUsed() != nil, ring.waitUsed() != nil else { throw BenchFailure("\(name): transfer/flush timed out") }
        guard display.waitForUpdates(atLeast: before + 1) else { throw BenchFailure("\(name): no UPDATE for flush \(r)") }
        let end = DispatchTime.now().uptimeNanoseconds
        let arrived = display.lastUpdateNanos
        let ta = try bench.ram.memory.load(UInt32.self, at: respA), tb = try bench.ram.memory.load(UInt32.self, at: respB)
        guard ta == Self.okNoData, tb == Self.okNoData else {
            throw BenchFailure("\(name): transfer/flush answered 0x\(String(ta, radix: 16))/0x\(String(tb, radix: 16))")
        }
        return Sample(latency: arrived &- start, total: end &- start)
    }

    /// GET_DISPLAY_INFO round trip (both backends ask the display end on the side channel each time).
    func displayInfo() throws -> Sample {
        bench.ram.write(GPURequest.getDisplayInfo(), at: reqA)
        let ring = bench.controlq
        let start = DispatchTime.now().uptimeNanoseconds
        let a = ring.addChain([.init(address: reqA, length: 24, writable: false),
                               .init(address: respInfo, length: 408, writable: true)])
        ring.publish(a)
        ring.notify()
        guard ring.waitUsed() != nil else { throw BenchFailure("\(name): GET_DISPLAY_INFO timed out") }
        let end = DispatchTime.now().uptimeNanoseconds
        let t = try bench.ram.memory.load(UInt32.self, at: respInfo)
        guard t == Self.okDisplayInfo else { throw BenchFailure("\(name): GET_DISPLAY_INFO answered 0x\(String(t, radix: 16))") }
        return Sample(latency: end - start, total: end - start)
    }

    /// The i-th 64x64 damage rectangle: it moves across the screen.
    static func damageRect(_ i: Int) -> Rect {
        Rect(x: UInt32((i * 67) % Int(width - 64)), y: UInt32((i * 37) % Int(height - 64)), width: 64, height: 64)
    }

    func close() { display.stop() }
}
