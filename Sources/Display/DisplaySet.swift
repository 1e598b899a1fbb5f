// DisplaySet: the scanouts of one GPU as the exporters (side channel, PNG, VNC) see them: a BGRX framebuffer per
// scanout, updated under a lock one whole flush at a time (never torn), with a frame counter and the damage.
import Foundation
import Synchronization

/// Frame pixels are always 32-bit x8r8g8b8 little-endian (bytes B, G, R, X): the format QEMU's side channel,
/// libvncserver and the PNG encoder read. The GPU converts other formats while copying.
public struct Frame: Sendable {
    public var width: UInt32
    public var height: UInt32
    public var pixels: [UInt8]           // stride width*4
    public var frameCounter: UInt64
    public var stride: Int { Int(width) * 4 }
    public init(width: UInt32, height: UInt32, pixels: [UInt8], frameCounter: UInt64) {
        self.width = width; self.height = height; self.pixels = pixels; self.frameCounter = frameCounter
    }
}

/// What a guest driver sees as the preferred mode of each scanout (GET_DISPLAY_INFO pmodes).
public struct DisplayMode: Equatable, Sendable {
    public var enabled: Bool
    public var width: UInt32
    public var height: UInt32
    public var x: UInt32 = 0
    public var y: UInt32 = 0
    public init(enabled: Bool, width: UInt32, height: UInt32, x: UInt32 = 0, y: UInt32 = 0) {
        self.enabled = enabled; self.width = width; self.height = height; self.x = x; self.y = y
    }
}

public struct CursorState: Equatable, Sendable {
    public var scanout: UInt32 = 0
    public var x: UInt32 = 0
    public var y: UInt32 = 0
    public var hotX: UInt32 = 0
    public var hotY: UInt32 = 0
    public var visible = false
    /// 64x64 pixels as B, G, R, A (premultiplied is not implied), empty when hidden.
    public var image: [UInt8] = []
    public var imageSerial: UInt64 = 0
    public init() {}
}

/// Status of one scanout for listings (`GET /v1/displays`).
public struct ScanoutInfo: Sendable, Equatable {
    public var index: Int
    public var enabled: Bool
    public var width: UInt32
    public var height: UInt32
    public var frameCounter: UInt64
    public var lastDamage: Date?
}

/// What a mirror of one scanout (the VNC exporter's framebuffer) must do, from `DisplaySet.takeDamage`.
public enum ScanoutChange: Equatable, Sendable {
    /// The scanout is off (or unknown): show a blank screen.
    case disabled
    /// The picture is now width x height: resize the mirror, then ask again with everything.
    case resized(width: UInt32, height: UInt32)
    /// These rectangles' pixels were handed over (none: nothing changed since the last call).
    case damaged([Rect])
}

public final class DisplaySet: Sendable {
    public static let maxScanouts = 16   // VIRTIO_GPU_MAX_SCANOUTS

    private struct Scanout {
        var mode: DisplayMode
        var enabled = false
        var frame: Frame
        var lastDamage: Date?
        /// The flushes not yet taken by the scanout's mirror (`takeDamage`): up to four rectangles kept inline, so
        /// the flush path stays allocation-free; a mirror that falls behind gets their union, never a backlog.
        var pendingDamage = DamageRegion()
    }
    private struct State {
        var scanouts: [Scanout]
        var cursor = CursorState()
        var frameEvents: UInt64 = 0
        var cursorEvents: UInt64 = 0
    }
    private let state: Mutex<State>
    private let changed = Condition()

    /// `modes`: one per scanout, 1...16.
    public init(modes: [DisplayMode]) {
        precondition((1...Self.maxScanouts).contains(modes.count), "1...16 scanouts")
        state = Mutex(State(scanouts: modes.map {
            Scanout(mode: $0, frame: Frame(width: 0, height: 0, pixels: [], frameCounter: 0))
        }))
    }

    public var count: Int { state.withLock { $0.scanouts.count } }
    public var modes: [DisplayMode] { state.withLock { $0.scanouts.map(\.mode) } }

    /// The frontend or an API changed the preferred modes (the GPU raises VIRTIO_GPU_EVENT_DISPLAY).
    public func setModes(_ modes: [DisplayMode]) {
        state.withLock { s in
            for (i, m) in modes.enumerated() where i < s.scanouts.count { s.scanouts[i].mode = m }
        }
    }

    /// SET_SCANOUT with a resource: the scanout shows a width x height picture; contents start black.
    public func enable(_ index: Int, width: UInt32, height: UInt32) {
        state.withLock { s in
            guard s.scanouts.indices.contains(index) else { return }
            var sc = s.scanouts[index]
            if !sc.enabled || sc.frame.width != width || sc.frame.height != height {
                sc.frame.width = width
                sc.frame.height = height
                sc.frame.pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 4)
                sc.pendingDamage.removeAll()
                sc.pendingDamage.add(Rect(x: 0, y: 0, width: width, height: height))
            }
            sc.enabled = true
            s.scanouts[index] = sc
        }
    }

    /// SET_SCANOUT with resource 0: the scanout is off.
    public func disable(_ index: Int) {
        state.withLock { s in
            guard s.scanouts.indices.contains(index) else { return }
            s.scanouts[index].enabled = false
            s.scanouts[index].frame.pixels = []
            s.scanouts[index].frame.width = 0
            s.scanouts[index].frame.height = 0
            s.scanouts[index].frame.frameCounter &+= 1
            s.scanouts[index].pendingDamage.removeAll()
            s.frameEvents &+= 1
        }
        changed.broadcast()
    }

    /// Applies one flush: `write` fills the framebuffer (stride width*4) under the lock, so readers never see half
    /// of it. `damage` is in scanout coordinates and already clipped by the caller.
    public func update(_ index: Int, damage: Rect, _ write: (UnsafeMutableRawBufferPointer, Int) -> Void) {
        let now = Date()
        state.withLock { s in
            guard s.scanouts.indices.contains(index), s.scanouts[index].enabled else { return }
            let stride = s.scanouts[index].frame.stride
            s.scanouts[index].frame.pixels.withUnsafeMutableBytes { write($0, stride) }
            Self.flushed(&s, index, damage: damage, at: now)
        }
        changed.broadcast()
    }

    /// The bookkeeping of one flush on scanout `index`, shared by `update` and `replaceFrame`.
    private static func flushed(_ s: inout State, _ index: Int, damage: Rect, at now: Date) {
        s.scanouts[index].frame.frameCounter &+= 1
        s.scanouts[index].lastDamage = now
        s.scanouts[index].pendingDamage.add(damage)   // for the VNC mirror (takeDamage)
        s.frameEvents &+= 1
    }

    /// A flush of the whole scanout without a copy: the picture becomes `pixels` (width*height B,G,R,X bytes, stride
    /// width*4), whose storage the caller keeps sharing copy-on-write (whoever writes next gets its own copy, so a
    /// reader never sees a later change), with the same bookkeeping as `update` (`flushed`). Returns the previous
    /// picture's storage for the caller to reuse, or nil, changing nothing, when the scanout is off or not
    /// width x height.
    public func replaceFrame(_ index: Int, width: UInt32, height: UInt32, with pixels: [UInt8]) -> [UInt8]? {
        let now = Date()
        let old: [UInt8]? = state.withLock { s in
            guard s.scanouts.indices.contains(index), s.scanouts[index].enabled,
                  s.scanouts[index].frame.width == width, s.scanouts[index].frame.height == height,
                  pixels.count == s.scanouts[index].frame.pixels.count else { return nil }
            let previous = s.scanouts[index].frame.pixels
            s.scanouts[index].frame.pixels = pixels
            Self.flushed(&s, index, damage: Rect(x: 0, y: 0, width: width, height: height), at: now)
            return previous
        }
        if old != nil { changed.broadcast() }
        return old
    }

    /// Copies `rect` (inside the scanout) as tightly packed BGRX rows into `out` (rect.width*rect.height*4 bytes).
    /// Returns false when the scanout is off or the rect does not fit.
    public func copyRect(_ index: Int, _ rect: Rect, into out: UnsafeMutableRawBufferPointer) -> Bool {
        state.withLock { s in
            guard s.scanouts.indices.contains(index), s.scanouts[index].enabled else { return false }
            let f = s.scanouts[index].frame
            guard rect.isInside(width: f.width, height: f.height),
                  out.count >= Int(rect.width) * Int(rect.height) * 4 else { return false }
            let rowBytes = Int(rect.width) * 4
            f.pixels.withUnsafeBytes { src in
                if rect.x == 0 && rect.width == f.width {
                    let start = Int(rect.y) * f.stride
                    out.baseAddress!.copyMemory(from: src.baseAddress! + start, byteCount: rowBytes * Int(rect.height))
                    return
                }
                for row in 0..<Int(rect.height) {
                    let from = (Int(rect.y) + row) * f.stride + Int(rect.x) * 4
                    (out.baseAddress! + row * rowBytes).copyMemory(from: src.baseAddress! + from, byteCount: rowBytes)
                }
            }
            return true
        }
    }

    /// For the one mirror of scanout `index` (the VNC exporter), whose copy is mirrorWidth x mirrorHeight: takes the
    /// damage flushed since its last call (`everything`: the whole picture) and hands those pixels to `read` under
    /// the lock (the rect, the framebuffer, its stride), so the mirror copies whole flushes only. `read` must be
    /// quick: the GPU's next flush waits for it. A disabled or resized scanout keeps its damage for the next call.
    public func takeDamage(_ index: Int, mirrorWidth: UInt32, mirrorHeight: UInt32, everything: Bool,
                           _ read: (Rect, UnsafeRawBufferPointer, Int) -> Void) -> ScanoutChange {
        state.withLock { s in
            guard s.scanouts.indices.contains(index), s.scanouts[index].enabled else { return .disabled }
            let f = s.scanouts[index].frame
            guard f.width == mirrorWidth, f.height == mirrorHeight else {
                return .resized(width: f.width, height: f.height)
            }
            let rects = everything ? [Rect(x: 0, y: 0, width: f.width, height: f.height)]
                : s.scanouts[index].pendingDamage.rects(clippedToWidth: f.width, height: f.height)
            s.scanouts[index].pendingDamage.removeAll()
            f.pixels.withUnsafeBytes { pixels in for rect in rects { read(rect, pixels, f.stride) } }
            return .damaged(rects)
        }
    }

    /// A consistent copy of a scanout's picture, or nil when it is unknown or disabled.
    public func snapshot(_ index: Int) -> Frame? {
        state.withLock { s in
            guard s.scanouts.indices.contains(index), s.scanouts[index].enabled else { return nil }
            return s.scanouts[index].frame
        }
    }

    public func info() -> [ScanoutInfo] {
        state.withLock { s in
            s.scanouts.enumerated().map { i, sc in
                ScanoutInfo(index: i, enabled: sc.enabled, width: sc.frame.width, height: sc.frame.height,
                            frameCounter: sc.frame.frameCounter, lastDamage: sc.lastDamage)
            }
        }
    }

    public var cursor: CursorState { state.withLock { $0.cursor } }
    public func setCursor(_ update: (inout CursorState) -> Void) {
        state.withLock { update(&$0.cursor); $0.cursorEvents &+= 1 }
        changed.broadcast()
    }

    /// Counters of what changed: flushes and scanout switches (`frames`), cursor moves and shapes (`cursor`).
    public struct Activity: Equatable, Sendable {
        public var frames: UInt64
        public var cursor: UInt64
        public init(frames: UInt64, cursor: UInt64) { self.frames = frames; self.cursor = cursor }
    }
    public var activity: Activity { state.withLock { Activity(frames: $0.frameEvents, cursor: $0.cursorEvents) } }

    /// Blocks until a frame or the cursor changes after `seen`, or `deadline` passes (for mirrors such as VNC).
    public func waitForActivity(after seen: Activity, until deadline: Date) -> Activity {
        while true {
            let current = activity
            if current != seen || Date() >= deadline { return current }
            changed.wait(until: deadline)
        }
    }

    /// Blocks until any scanout changes or `deadline` passes (for waiters that want the next frame).
    public func waitForChange(after events: UInt64, until deadline: Date) -> UInt64 {
        while true {
            let current = state.withLock { $0.frameEvents }
            if current != events || Date() >= deadline { return current }
            changed.wait(until: deadline)
        }
    }
    public var frameEvents: UInt64 { state.withLock { $0.frameEvents } }
}

/// A tiny condition variable for waiters (Foundation's NSCondition wrapped to be Sendable).
/// Waits wake at least every 50 ms, so a broadcast that lands between a waiter's check and its wait costs at most
/// that (waiters re-check their condition in a loop).
public final class Condition: @unchecked Sendable {
    // Sendable: NSCondition is thread-safe.
    private let cond = NSCondition()
    public init() {}
    public func broadcast() { cond.lock(); cond.broadcast(); cond.unlock() }
    public func wait(until deadline: Date) { cond.lock(); _ = cond.wait(until: min(deadline, Date() + 0.05)); cond.unlock() }
}
