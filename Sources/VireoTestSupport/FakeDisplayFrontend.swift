// FakeDisplayFrontend: plays QEMU's display end of the vhost-user-gpu side channel: answers protocol features,
// display info and EDID, and keeps the picture the backend sends (SCANOUT/UPDATE as x8r8g8b8) like QEMU does.
import Foundation
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
    }
    /// Modes reported for GET_DISPLAY_INFO (up to 16).
    public let modes: [(width: UInt32, height: UInt32)]
    public let edid: [UInt8]?
    let socket: OwnedFD
    public let backendEnd: OwnedFD
    private let state = Mutex(State())
    private let stopped = Mutex(false)

    public init(modes: [(width: UInt32, height: UInt32)] = [(1024, 768)], edid: [UInt8]? = nil) throws {
        (socket, backendEnd) = try UnixSocket.pair()
        self.modes = modes
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
        while !stopped.withLock({ $0 }) {
            guard (try? UnixSocket.waitReadable(socket, timeoutMS: 100)) == true else { continue }
            guard let head = try? UnixSocket.receiveExactly(socket, count: 12) else { return }
            var r = WireReader(head)
            let code = (try? r.read(UInt32.self)) ?? 0
            _ = try? r.read(UInt32.self)
            let size = Int((try? r.read(UInt32.self)) ?? 0)
            guard size <= 64 << 20, let body = (size == 0 ? [] : try? UnixSocket.receiveExactly(socket, count: size)) else { return }
            handle(code, body)
        }
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
            state.withLock { s in
                s.updates.append((id, x, y, w, h))
                guard var surf = s.surfaces[id], data.count == Int(w) * Int(h) * 4,
                      x <= surf.width, w <= surf.width - x, y <= surf.height, h <= surf.height - y else { return }
                for row in 0..<Int(h) {
                    let dst = (Int(y) + row) * Int(surf.width) * 4 + Int(x) * 4
                    surf.pixels.replaceSubrange(dst..<dst + Int(w) * 4, with: data[(row * Int(w) * 4)..<((row + 1) * Int(w) * 4)])
                }
                s.surfaces[id] = surf
            }
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
