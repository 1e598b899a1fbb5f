// GPUTestSupport: guest memory from real memfd regions (two, with a gap), request encoders and a device harness.
import Display
import GuestMemory
import Logging
import VireoSystem
import Wire
@testable import VirtioGPU

/// Guest RAM: region 0 at 0x1000_0000 (1 MiB), a gap, region 1 at 0x2000_0000 (4 MiB).
struct TestGuest {
    static let base0: UInt64 = 0x1000_0000, size0: UInt64 = 1 << 20
    static let base1: UInt64 = 0x2000_0000, size1: UInt64 = 4 << 20
    static let gap: UInt64 = base0 + size0 + 0x1000    // in no region
    let memory: GuestMemory
    let onlyFirstRegion: GuestMemory

    init() throws {
        let r0 = try MemoryRegion(layout: .init(guestPhysAddr: Self.base0, memorySize: Self.size0,
                                                userspaceAddr: 0x7f00_0000_0000, mmapOffset: 0),
                                  fd: MemFD.make(name: "gpu-test-0", size: Self.size0))
        let r1 = try MemoryRegion(layout: .init(guestPhysAddr: Self.base1, memorySize: Self.size1,
                                                userspaceAddr: 0x7f10_0000_0000, mmapOffset: 0),
                                  fd: MemFD.make(name: "gpu-test-1", size: Self.size1))
        memory = try GuestMemory(regions: [r0, r1])
        onlyFirstRegion = try GuestMemory(regions: [r0])
    }
    var dma: DMASpace { DMASpace(memory: memory) }
    func write(_ bytes: [UInt8], at address: UInt64) throws { try memory.writeBytes(bytes, at: address) }
}

typealias Cmd = GPUCommandType

/// Request encoders: `virtio_gpu_ctrl_hdr` followed by the command's struct.
enum Req {
    static func hdr(_ type: UInt32, flags: UInt32 = 0, fence: UInt64 = 0, ctx: UInt32 = 0) -> [UInt8] {
        var w = WireWriter()
        w.write(type); w.write(flags); w.write(fence); w.write(ctx); w.write(zeros: 4)
        return w.bytes
    }
    static func cmd(_ type: Cmd, _ fields: [UInt32], flags: UInt32 = 0, fence: UInt64 = 0) -> [UInt8] {
        var w = WireWriter()
        for f in fields { w.write(f) }
        return hdr(type.rawValue, flags: flags, fence: fence) + w.bytes
    }
    static func rect(_ r: Rect) -> [UInt32] { [r.x, r.y, r.width, r.height] }
    static func create(_ id: UInt32, _ format: UInt32, _ w: UInt32, _ h: UInt32) -> [UInt8] {
        cmd(.resourceCreate2D, [id, format, w, h])
    }
    static func unref(_ id: UInt32) -> [UInt8] { cmd(.resourceUnref, [id, 0]) }
    static func attach(_ id: UInt32, _ entries: [(UInt64, UInt32)], nr: UInt32? = nil) -> [UInt8] {
        var w = WireWriter()
        for (a, l) in entries { w.write(a); w.write(l); w.write(UInt32(0)) }
        return cmd(.resourceAttachBacking, [id, nr ?? UInt32(entries.count)]) + w.bytes
    }
    static func detach(_ id: UInt32) -> [UInt8] { cmd(.resourceDetachBacking, [id, 0]) }
    static func transfer(_ id: UInt32, _ r: Rect, offset: UInt64 = 0) -> [UInt8] {
        cmd(.transferToHost2D, rect(r) + [UInt32(truncatingIfNeeded: offset), UInt32(offset >> 32), id, 0])
    }
    static func setScanout(_ scanout: UInt32, _ id: UInt32, _ r: Rect) -> [UInt8] {
        cmd(.setScanout, rect(r) + [scanout, id])
    }
    static func flush(_ id: UInt32, _ r: Rect) -> [UInt8] { cmd(.resourceFlush, rect(r) + [id, 0]) }
    static func cursor(_ type: Cmd, scanout: UInt32 = 0, x: UInt32, y: UInt32, id: UInt32 = 0,
                       hot: (UInt32, UInt32) = (0, 0)) -> [UInt8] {
        cmd(type, [scanout, x, y, 0, id, hot.0, hot.1, 0])
    }
    static func edid(_ scanout: UInt32) -> [UInt8] { cmd(.getEDID, [scanout, 0]) }
    static func uuid(_ id: UInt32) -> [UInt8] { cmd(.resourceAssignUUID, [id, 0]) }
}

func R(_ x: UInt32, _ y: UInt32, _ w: UInt32, _ h: UInt32) -> Rect { Rect(x: x, y: y, width: w, height: h) }

/// A device over a DisplaySet and test guest memory.
final class Harness {
    let guest: TestGuest
    let displays: DisplaySet
    let device: GPUDevice
    var lastEvents: [GPUDisplayEvent] = []

    init(scanouts: Int = 2, width: UInt32 = 64, height: UInt32 = 32, limits: GPUDeviceLimits = .init()) throws {
        guest = try TestGuest()
        displays = DisplaySet(modes: (0..<scanouts).map { _ in DisplayMode(enabled: true, width: width, height: height) })
        let logger = Logger(label: "vireo.gpu.test", factory: { _ in SwiftLogNoOpLogHandler() })
        device = GPUDevice(displays: displays, limits: limits, logger: logger)
        device.setNegotiatedFeatures(GPUDevice.offeredFeatures)
    }

    /// Sends a request; returns the full result (events also kept in `lastEvents`).
    @discardableResult
    func send(_ request: [UInt8], queue: GPUQueue = .control, dma: DMASpace? = nil) -> GPUCommandResult {
        let r = device.handle(request: request, queue: queue, dma: dma ?? guest.dma)
        lastEvents = r.events
        return r
    }
    /// The response type of a request.
    func code(_ request: [UInt8], queue: GPUQueue = .control, dma: DMASpace? = nil) -> GPUResponseType? {
        Self.type(of: send(request, queue: queue, dma: dma).response)
    }
    static func type(of response: [UInt8]) -> GPUResponseType? {
        var r = WireReader(response)
        return (try? r.read(UInt32.self)).flatMap(GPUResponseType.init(rawValue:))
    }

    /// Creates a resource with backing at `address` (contiguous, w*h*4 bytes) filled with `bytes`.
    func makeResource(_ id: UInt32, format: GPUFormat = .b8g8r8x8Unorm, _ w: UInt32, _ h: UInt32,
                      at address: UInt64 = TestGuest.base1, bytes: [UInt8]? = nil) throws {
        let size = Int(w * h * 4)
        try guest.write(bytes ?? [UInt8](repeating: 0, count: size), at: address)
        precondition(code(Req.create(id, format.rawValue, w, h)) == .okNoData)
        precondition(code(Req.attach(id, [(address, UInt32(size))])) == .okNoData)
        precondition(code(Req.transfer(id, R(0, 0, w, h))) == .okNoData)
    }

    func pixel(_ scanout: Int, _ x: Int, _ y: Int) -> [UInt8]? {
        guard let f = displays.snapshot(scanout) else { return nil }
        let o = y * f.stride + x * 4
        return Array(f.pixels[o..<o + 4])
    }
}

/// A colour and how each format lays it out in memory (names are byte order).
struct Colour {
    var r: UInt8, g: UInt8, b: UInt8, a: UInt8
    func bytes(_ f: GPUFormat) -> [UInt8] {
        switch f {
        case .b8g8r8a8Unorm, .b8g8r8x8Unorm: [b, g, r, a]
        case .a8r8g8b8Unorm, .x8r8g8b8Unorm: [a, r, g, b]
        case .r8g8b8a8Unorm, .r8g8b8x8Unorm: [r, g, b, a]
        case .a8b8g8r8Unorm, .x8b8g8r8Unorm: [a, b, g, r]
        }
    }
    var bgra: [UInt8] { [b, g, r, a] }
}
