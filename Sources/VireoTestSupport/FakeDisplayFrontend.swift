// FakeDisplayFrontend: plays QEMU's display end of the vhost-user-gpu side channel: answers protocol features,
// display info and EDID, and keeps the picture the backend sends (SCANOUT/UPDATE as x8r8g8b8) like QEMU does.
import Foundation
import Glibc
import Synchronization
import VhostUser
import VireoSystem
import Wire

public final class FakeDisplayFrontend: Sendable {
    public struct Surface: Sendable, Equatable {
        public var width: UInt32
        public var height: UInt32
        public var pixels: [UInt8]   // BGRX
    }
    struct State {
        var surfaces: [UInt32: Surface] = [:]
        var messages: [UInt32] = []
        var updates: [(scanout: UInt32, x: UInt32, y: UInt32, w: UInt32, h: UInt32)] = []
        var cursorPositions: [(UInt32, UInt32, UInt32, Bool)] = []
        var cursorImages = 0
        var protocolFeaturesSet: UInt64?
        var keepsPictures = true
        var updateCount = 0
        var lastUpdateNanos: UInt64 = 0
    }
    /// Modes reported for GET_DISPLAY_INFO (up to 16).
    private let modeList: Mutex<[(width: UInt32, height: UInt32)]>
    public var modes: [(width: UInt32, height: UInt32)] { modeList.withLock { $0 } }
    /// What the next GET_DISPLAY_INFO reports (a host-side resize).
    public func setModes(_ m: [(width: UInt32, height: UInt32)]) { modeList.withLock { $0 = m } }
    public let edid: [UInt8]?
    let socket: OwnedFD
    public let backendEnd: OwnedFD
    private let state = Mutex(State())
    private let stopped = Mutex(false)
    private let updateArrived = UpdateSignal()

    public init(modes: [(width: UInt32, height: UInt32)] = [(1024, 768)], edid: [UInt8]? = nil) throws {
        (socket, backendEnd) = try UnixSocket.pair()
        modeList = Mutex(modes)
        self.edid = edid
        let thread = Thread { [self] in self.serve() }
        thread.start()
    }

    public func stop() { stopped.withLock { $0 = true } }

    public func surface(_ scanout: UInt32) -> Surface? { state.withLock { $0.surfaces[scanout] } }
    public var messageCodes: [UInt32] { state.withLock { $0.messages } }
    public var updateRects: [(scanout: UInt32, x: UInt32, y: UInt32, w: UInt32, h: UInt32)] { state.withLock { $0.updates } }
    public var cursorImages: Int { state.withLock { $0.cursorImages } }
    public var cursorPositions: [(UInt32, UInt32, UInt32, Bool)] { state.withLock { $0.cursorPositions } }
    public var protocolFeaturesSet: UInt64? { state.withLock { $0.protocolFeaturesSet } }

    /// UPDATE messages received so far, and when the last one was completely read (DispatchTime uptime ns).
    public var updateCount: Int { state.withLock { $0.updateCount } }
    public var lastUpdateNanos: UInt64 { state.withLock { $0.lastUpdateNanos } }
    /// Off: UPDATE pixels are read and dropped into one reused buffer, only counted (for benchmarks, so the
    /// frontend's own copying does not blur the backend's cost). On (the default): surfaces keep the picture.
    public func setKeepsPictures(_ keep: Bool) { state.withLock { $0.keepsPictures = keep } }

    /// Waits, without polling, until at least `count` UPDATE messages have arrived; false on timeout.
    public func waitForUpdates(atLeast count: Int, timeout: TimeInterval = 5) -> Bool {
        updateArrived.wait(until: Date() + timeout) { self.updateCount >= count }
    }

    /// Waits until `predicate` holds (the backend writes asynchronously).
    public func wait(timeout: TimeInterval = 5, _ predicate: (FakeDisplayFrontend) -> Bool) -> Bool {
        let deadline = Date() + timeout
        while Date() < deadline {
            if predicate(self) { return true }
            Thread.sleep(forTimeInterval: 0.005)
        }
        return predicate(self)
    }

    private func serve() {
        var scratch = [UInt8]()
        while !stopped.withLock({ $0 }) {
            guard (try? UnixSocket.waitReadable(socket, timeoutMS: 100)) == true else { continue }
            guard let head = try? UnixSocket.receiveExactly(socket, count: 12) else { return }
            var r = WireReader(head)
            let code = (try? r.read(UInt32.self)) ?? 0
            _ = try? r.read(UInt32.self)
            let size = Int((try? r.read(UInt32.self)) ?? 0)
            if code == GPUSideChannelRequest.update.rawValue, size >= 20, size <= 64 << 20,
               !state.withLock({ $0.keepsPictures }) {
                guard drain(size, into: &scratch) else { return }
                countUpdate(rect: Array(scratch[0..<20]))
                continue
            }
            guard size <= 64 << 20, let body = (size == 0 ? [] : try? UnixSocket.receiveExactly(socket, count: size)) else { return }
            handle(code, body)
        }
    }

    /// Reads `size` bytes into `scratch` (grown once, then reused); false when the backend closed.
    private func drain(_ size: Int, into scratch: inout [UInt8]) -> Bool {
        if scratch.count < size { scratch = [UInt8](repeating: 0, count: size) }
        var done = 0
        while done < size {
            let n = scratch.withUnsafeMutableBytes { Glibc.read(socket.rawValue, $0.baseAddress! + done, size - done) }
            if n < 0, errno == EINTR || errno == EAGAIN { _ = try? UnixSocket.waitReadable(socket, timeoutMS: 100); continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// Records one UPDATE (its 20-byte scanout/rect head) and wakes waiters.
    private func countUpdate(rect: [UInt8]) {
        var r = WireReader(rect)
        guard let id = try? r.read(UInt32.self), let x = try? r.read(UInt32.self), let y = try? r.read(UInt32.self),
              let w = try? r.read(UInt32.self), let h = try? r.read(UInt32.self) else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        state.withLock { s in
            s.updates.append((id, x, y, w, h))
            s.updateCount += 1
            s.lastUpdateNanos = now
        }
        updateArrived.broadcast()
    }

    private func reply(_ code: UInt32, _ payload: [UInt8]) {
        var w = WireWriter()
        w.write(code); w.write(GPUSideChannel.replyFlag); w.write(UInt32(payload.count)); w.write(bytes: payload)
        try? UnixSocket.send(socket, w.bytes)
    }

    private func handle(_ code: UInt32, _ body: [UInt8]) {
        state.withLock { $0.messages.append(code) }
        var r = WireReader(body)
        switch GPUSideChannelRequest(rawValue: code) {
        case .getProtocolFeatures:
            var w = WireWriter(); w.write(UInt64(edid == nil ? 0 : 1)); reply(code, w.bytes)
        case .setProtocolFeatures:
            let v = try? r.read(UInt64.self)
            state.withLock { $0.protocolFeaturesSet = v }
        case .getDisplayInfo:
            var w = WireWriter()
            w.write(UInt32(0x1101)); w.write(zeros: 20)
            let modes = self.modes
            for i in 0..<16 {
                if i < modes.count {
                    w.write(UInt32(0)); w.write(UInt32(0)); w.write(modes[i].width); w.write(modes[i].height)
                    w.write(UInt32(1)); w.write(UInt32(0))
                } else {
                    w.write(zeros: 24)
                }
            }
            reply(code, w.bytes)
        case .getEDID:
            var w = WireWriter()
            w.write(UInt32(0x1104)); w.write(zeros: 20)
            let e = edid ?? []
            w.write(UInt32(e.count)); w.write(UInt32(0)); w.write(bytes: e); w.write(zeros: 1024 - e.count)
            reply(code, w.bytes)
        case .scanout:
            guard let id = try? r.read(UInt32.self), let wd = try? r.read(UInt32.self), let ht = try? r.read(UInt32.self) else { return }
            state.withLock { s in
                s.surfaces[id] = wd == 0 ? nil
                    : Surface(width: wd, height: ht, pixels: [UInt8](repeating: 0, count: Int(wd) * Int(ht) * 4))
            }
        case .update:
            guard let id = try? r.read(UInt32.self), let x = try? r.read(UInt32.self), let y = try? r.read(UInt32.self),
                  let w = try? r.read(UInt32.self), let h = try? r.read(UInt32.self) else { return }
            let data = r.readRemaining()
            let now = DispatchTime.now().uptimeNanoseconds
            state.withLock { s in
                s.updates.append((id, x, y, w, h))
                s.updateCount += 1
                s.lastUpdateNanos = now
                // Taken out of the dictionary while written so the picture is not copied (copy on write).
                guard var surf = s.surfaces.removeValue(forKey: id) else { return }
                defer { s.surfaces[id] = surf }
                guard data.count == Int(w) * Int(h) * 4,
                      x <= surf.width, w <= surf.width - x, y <= surf.height, h <= surf.height - y else { return }
                let width = Int(surf.width), rowBytes = Int(w) * 4
                surf.pixels.withUnsafeMutableBytes { dst in
                    data.withUnsafeBytes { src in
                        for row in 0..<Int(h) {
                            let at = (Int(y) + row) * width * 4 + Int(x) * 4
                            (dst.baseAddress! + at).copyMemory(from: src.baseAddress! + row * rowBytes, byteCount: rowBytes)
                        }
                    }
                }
            }
            updateArrived.broadcast()
        case .cursorPos, .cursorPosHide:
            guard let id = try? r.read(UInt32.self), let x = try? r.read(UInt32.self), let y = try? r.read(UInt32.self) else { return }
            state.withLock { $0.cursorPositions.append((id, x, y, code == GPUSideChannelRequest.cursorPos.rawValue)) }
        case .cursorUpdate:
            state.withLock { $0.cursorImages += 1 }
        default:
            break
        }
    }
}

/// A condition variable for UPDATE waiters (NSCondition, thread-safe, wrapped to be Sendable).
final class UpdateSignal: @unchecked Sendable {
    private let cond = NSCondition()
    func broadcast() { cond.lock(); cond.broadcast(); cond.unlock() }
    /// Waits until `done()` holds (checked under the lock that `broadcast` takes, so no wake-up is lost).
    func wait(until deadline: Date, _ done: () -> Bool) -> Bool {
        cond.lock(); defer { cond.unlock() }
        while !done() {
            guard Date() < deadline else { return false }
            _ = cond.wait(until: deadline)
        }
        return true
    }
}
