// VNCServer: one scanout exported over VNC (libvncserver in threaded mode: a thread per client, so a stalled viewer
// never holds up the others). A pump thread mirrors whichever DisplaySet is current into the framebuffer handed
// to libvncserver, one whole flush at a time, and marks only the damaged rectangles; each client's modified region
// coalesces those, so a slow client gets the newest picture and never a backlog, and the guest never waits on VNC.
import CVNCServer
import Display
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public final class VNCServer: Sendable {
    public let scanout: Int
    public let configuration: VNCConfiguration
    private let session: VNCSession
    private let screen: LibVNCScreen
    private let displays: @Sendable () -> DisplaySet?
    private let running = Atomic<Bool>(false)
    private let handshakesInFlight = Atomic<Int>(0)
    private let mirroredFrames = Atomic<UInt64>(0)
    /// Below FD_SETSIZE, with room for the two pipes libvncserver makes per client.
    private static let selectableDescriptors: Int32 = 1000

    /// `displays` returns the DisplaySet to show now (nil: no guest: a blank screen); it is asked again at least every
    /// 100 ms, so the server follows reconnecting guests. `input` receives the viewers' keyboard, pointer and
    /// clipboard; `resizeRequest` passes SetDesktopSize on (nil: refused).
    public init(scanout: Int, configuration: VNCConfiguration, input: any InputSink, logger: Logger,
                resizeRequest: VNCResizeRequest? = nil, displays: @escaping @Sendable () -> DisplaySet?) throws {
        guard (configuration.tlsCertificatePath == nil) == (configuration.tlsKeyPath == nil) else {
            throw VNCError(description: "a TLS certificate needs its key, and a key its certificate")
        }
        LibVNCLog.install()
        self.scanout = scanout
        self.configuration = configuration
        self.displays = displays
        var log = logger
        log[metadataKey: "scanout"] = "\(scanout)"
        session = VNCSession(scanout: scanout, input: input, logger: log,
                             throttle: PasswordThrottle(policy: configuration.passwordThrottle),
                             resizeRequest: resizeRequest)
        // The screen's context lives as long as the process: libvncserver's threads may still call hooks after
        // a shutdown.
        let context = Unmanaged.passRetained(session).toOpaque()
        screen = try LibVNCScreen(width: Int(configuration.blankWidth), height: Int(configuration.blankHeight),
                                  configuration: configuration, context: context, hooks: VNCSession.hooks)
    }

    /// Listens and starts serving; returns at once.
    public func start() throws {
        let ports = [configuration.port] + (configuration.websocketPort > 0 ? [configuration.websocketPort] : [])
        let listeners = try screen.start(host: configuration.host, ports: ports)
        running.store(true, ordering: .sequentiallyConsistent)
        Thread { [self] in LibVNCScreen.blockSignalsInThisThread(); pump() }.start()
        for listener in listeners { Thread { [self] in LibVNCScreen.blockSignalsInThisThread(); acceptLoop(listener) }.start() }
        var address = "\(configuration.host):\(configuration.port)"
        if configuration.websocketPort > 0 { address += ", WebSocket \(configuration.host):\(configuration.websocketPort)" }
        if configuration.tlsCertificatePath != nil { address += " (TLS offered)" }
        session.logger.info("VNC for scanout \(scanout) on \(address)\(configuration.password == nil ? "" : ", password required")")
    }

    /// Disconnects every viewer and stops listening.
    public func stop() {
        guard running.exchange(false, ordering: .sequentiallyConsistent) else { return }
        screen.shutdown()
    }

    /// Viewers connected now (past the handshake or not yet gone).
    public var clientsConnected: Int { session.clientsConnected }

    /// The DisplaySet frame-activity count the framebuffer has caught up with (for tests and status).
    public var mirroredFrameActivity: UInt64 { mirroredFrames.load(ordering: .acquiring) }

    // MARK: mirroring

    /// What the mirror shows, kept by the pump thread only.
    private struct MirrorState {
        var source: DisplaySet?
        var seen = DisplaySet.Activity(frames: .max, cursor: .max)
        var needsEverything = true
        var blank = false
        var cursor: CursorState?
        /// Where libvncserver may have composited the cursor since the last repair (old and new places).
        var cursorAreas: [Rect] = []
        var compositedUpdatesSeen: UInt64 = 0
        /// How long the next copy waits for sends in progress (see mirrorFrame); set from the configuration.
        var copyWaitMilliseconds = -1
    }

    private func pump() {
        var state = MirrorState()
        var handshakeCheck = Date()
        while running.load(ordering: .relaxed) {
            // Silent connections would hold viewer slots forever (libvncserver waits for them without a limit).
            if Date() >= handshakeCheck {
                _ = screen.dropStalledHandshakes(after: Int(configuration.clientTimeoutMilliseconds))
                handshakeCheck = Date() + 0.5
            }
            let current = displays()
            if current !== state.source {
                // A new guest connection: its cursor is not the old one's.
                if state.cursor != nil { screen.setCursor(nil, width: 0, height: 0, hotX: 0, hotY: 0) }
                let blank = state.blank
                state = MirrorState()
                state.source = current
                state.blank = blank
            }
            guard let current else {
                showBlank(&state)
                Thread.sleep(forTimeInterval: 0.1)
                continue
            }
            let activity = current.activity
            if activity != state.seen || state.needsEverything {
                state.seen = activity
                mirrorFrame(current, &state)
                if !state.blank { mirrorCursor(current.cursor, &state) }
                mirroredFrames.store(activity.frames, ordering: .releasing)
            }
            repairCursorAreas(current, &state)
            _ = current.waitForActivity(after: state.seen, until: Date() + 0.05)
        }
    }

    private func mirrorFrame(_ displays: DisplaySet, _ state: inout MirrorState) {
        // At most one resize per pass: the second answer is the copy into the new framebuffer.
        for _ in 0..<2 {
            // Waits (not holding the DisplaySet, so never the guest) for sends in progress, so no update mixes two
            // frames. Bounded (sendWaitMilliseconds): after a wait ran out (a viewer slow mid-send) copies only try,
            // until one gets the guard again, so a slow viewer delays the others once per send, not every frame.
            // Released before a resize, which takes every client's send lock.
            if state.copyWaitMilliseconds < 0 { state.copyWaitMilliseconds = configuration.sendWaitMilliseconds }
            let exclusive = vireo_vnc_frame_guard_lock_copy(session.frameGuard, state.copyWaitMilliseconds) != 0
            state.copyWaitMilliseconds = exclusive ? configuration.sendWaitMilliseconds : 0
            var changed: [Rect] = []
            let change = displays.takeDamage(scanout, mirrorWidth: UInt32(screen.width), mirrorHeight: UInt32(screen.height),
                                             everything: state.needsEverything) { rect, pixels, stride in
                if let part = screen.copy(rect, from: pixels, stride: stride) { changed.append(part) }
            }
            if exclusive { vireo_vnc_frame_guard_unlock_copy(session.frameGuard) }
            switch change {
            case .disabled:
                showBlank(&state)
                return
            case .resized(let width, let height):
                session.logger.info("VNC scanout \(scanout): \(width)x\(height)")
                screen.resize(width: Int(width), height: Int(height))
                state.needsEverything = true
            case .damaged:
                state.needsEverything = false
                state.blank = false
                for rect in changed { screen.markModified(rect) }   // only what differs from what viewers have
                return
            }
        }
    }

    /// No guest or a disabled scanout: black, no cursor, in the size viewers already have.
    private func showBlank(_ state: inout MirrorState) {
        state.needsEverything = true
        guard !state.blank else { return }
        state.blank = true
        state.cursor = nil
        screen.setCursor(nil, width: 0, height: 0, hotX: 0, hotY: 0)
        screen.clear()
        screen.markModified(Rect(x: 0, y: 0, width: UInt32(screen.width), height: UInt32(screen.height)))
    }

    private func mirrorCursor(_ cursor: CursorState, _ state: inout MirrorState) {
        let side = 64
        let shown = cursor.visible && Int(cursor.scanout) == scanout && cursor.image.count == side * side * 4
        let previous = state.cursor
        state.cursor = shown ? cursor : nil
        guard shown else {
            if previous != nil { screen.setCursor(nil, width: 0, height: 0, hotX: 0, hotY: 0) }
            return
        }
        if previous?.imageSerial != cursor.imageSerial || previous?.hotX != cursor.hotX || previous?.hotY != cursor.hotY
            || previous?.image != cursor.image {
            screen.setCursor(cursor.image, width: side, height: side, hotX: Int(cursor.hotX), hotY: Int(cursor.hotY))
        }
        if previous?.x != cursor.x || previous?.y != cursor.y || previous == nil {
            screen.moveCursor(x: Int(cursor.x), y: Int(cursor.y))
        }
        let area = Self.cursorArea(cursor)
        if !state.cursorAreas.contains(area) { state.cursorAreas.append(area) }
    }

    private static func cursorArea(_ cursor: CursorState) -> Rect {
        Rect(x: UInt32(clamping: max(0, Int(cursor.x) - Int(cursor.hotX))),
             y: UInt32(clamping: max(0, Int(cursor.y) - Int(cursor.hotY))), width: 64, height: 64)
    }

    /// libvncserver composites the cursor into the one shared framebuffer while it sends to a client without
    /// cursor encodings, and restores the pixels it saved afterwards. A copy of ours in between is then undone,
    /// two such clients can leave a ghost cursor, and clients with cursor shapes may get the drawn cursor. After
    /// such sends the pump rewrites the cursor's areas from the DisplaySet (only what differs) and resends them.
    private func repairCursorAreas(_ displays: DisplaySet, _ state: inout MirrorState) {
        let sent = session.compositedUpdates.load(ordering: .relaxed)
        guard sent != state.compositedUpdatesSeen, !state.cursorAreas.isEmpty, !state.blank else { return }
        state.compositedUpdatesSeen = sent
        var staging = [UInt8](repeating: 0, count: 64 * 64 * 4)
        for area in state.cursorAreas {
            let rect = area.clipped(toWidth: UInt32(screen.width), height: UInt32(screen.height))
            guard !rect.isEmpty else { continue }
            let copied = staging.withUnsafeMutableBytes { displays.copyRect(scanout, rect, into: $0) }
            guard copied else { continue }
            let changed = staging.withUnsafeBytes { screen.repair(rect, from: $0, stride: Int(rect.width) * 4) }
            if changed { screen.markModified(rect) } else { screen.markModifiedForCursorClients(rect) }
        }
        // The current place stays: the next composited send draws there again.
        state.cursorAreas = state.cursor.map { [Self.cursorArea($0)] } ?? []
    }

    // MARK: accepting

    /// Accepts on one port (RFB or WebSocket); each handshake runs on a thread of its own, so a client that stalls
    /// in it delays nobody else. Past `maxClients` viewers, or as many handshakes at once, connections are closed.
    private func acceptLoop(_ listener: Int32) {
        while running.load(ordering: .relaxed) {
            var fd = accept(listener, nil, nil)
            guard fd >= 0 else {
                if errno == EINTR { continue }
                if !running.load(ordering: .relaxed) { return }
                Thread.sleep(forTimeInterval: 0.05)
                continue
            }
            // libvncserver waits on its sockets and pipes with select(), which cannot take descriptors past
            // FD_SETSIZE (1024): move the socket below it, and refuse the client when that is not possible.
            if fd >= Self.selectableDescriptors {
                let lower = fcntl(fd, F_DUPFD_CLOEXEC, 0)
                close(fd)
                guard lower >= 0, lower < Self.selectableDescriptors else {
                    if lower >= 0 { close(lower) }
                    session.logger.warning("VNC scanout \(scanout): too many open descriptors for libvncserver; connection closed")
                    continue
                }
                fd = lower
            }
            let limit = configuration.maxClients
            var admitted = session.clientsConnected < limit
            if admitted, handshakesInFlight.add(1, ordering: .relaxed).newValue > limit {
                handshakesInFlight.subtract(1, ordering: .relaxed)
                admitted = false
            }
            guard admitted else {
                session.logger.warning("VNC scanout \(scanout): \(limit) viewers or handshakes already; connection closed")
                close(fd)
                continue
            }
            let client = fd
            Thread { [self] in
                if !screen.adopt(socket: client) {
                    session.logger.notice("VNC client refused during the handshake (WebSocket or TLS)")
                }
                handshakesInFlight.subtract(1, ordering: .relaxed)
            }.start()
        }
    }
}
