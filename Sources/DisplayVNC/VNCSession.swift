// VNCSession: what libvncserver's hooks reach, through the screen context pointer: the input sink, the password
// throttle, the log, the resize seam. Hooks run on libvncserver's client threads.
import CVNCServer
import Display
import Foundation
import Logging
import Synchronization

/// Asks the guest for a new size of `scanout` (a client's SetDesktopSize). Returns nil when passed on, else why not.
public typealias VNCResizeRequest = @Sendable (_ scanout: Int, _ width: UInt32, _ height: UInt32) -> String?

final class VNCSession: Sendable {
    let scanout: Int
    let input: any InputSink
    let logger: Logger
    let throttle: PasswordThrottle
    let resizeRequest: VNCResizeRequest?
    private let connected = Atomic<Int>(0)
    /// Updates sent to clients that get the cursor composited (each drew it into the shared framebuffer).
    let compositedUpdates = Atomic<UInt64>(0)
    /// Sends hold it shared, the pump's copies exclusively (CVNCServer.h). Lives as long as the session.
    nonisolated(unsafe) let frameGuard = vireo_vnc_frame_guard_new()!
    /// What each client holds down (by client pointer): released for it when it leaves, so a viewer that closes
    /// with a key or button held (a browser tab closed mid-Ctrl) does not leave it stuck in the guest.
    private let held = Mutex<[Int: HeldInput]>([:])
    struct HeldInput {
        var keysyms: Set<UInt32> = []
        var scancodes: [UInt32: UInt32] = [:]       // scancode -> the keysym sent with it
        var pointer: (x: Int, y: Int, width: Int, height: Int, buttons: UInt8)?
    }

    func noteKeysym(_ client: rfbClientPtr, _ keysym: UInt32, down: Bool) {
        held.withLock { h in
            if down { h[Int(bitPattern: client), default: .init()].keysyms.insert(keysym) }
            else { h[Int(bitPattern: client)]?.keysyms.remove(keysym) }
        }
    }

    func noteScancode(_ client: rfbClientPtr, _ scancode: UInt32, keysym: UInt32, down: Bool) {
        held.withLock { h in
            if down { h[Int(bitPattern: client), default: .init()].scancodes[scancode] = keysym }
            else { h[Int(bitPattern: client)]?.scancodes[scancode] = nil }
        }
    }

    func notePointer(_ client: rfbClientPtr, x: Int, y: Int, width: Int, height: Int, buttons: UInt8) {
        held.withLock { h in h[Int(bitPattern: client), default: .init()].pointer = (x, y, width, height, buttons) }
    }

    /// The client left: release whatever it still held.
    func releaseHeld(by client: rfbClientPtr) {
        guard let h = held.withLock({ $0.removeValue(forKey: Int(bitPattern: client)) }) else { return }
        for (scancode, keysym) in h.scancodes { input.scancode(scancode, keysym: keysym, down: false) }
        for keysym in h.keysyms { input.keysym(keysym, down: false) }
        if let p = h.pointer, p.buttons != 0 {
            input.pointer(scanout: scanout, x: p.x, y: p.y, width: p.width, height: p.height, buttons: 0)
        }
        if !h.keysyms.isEmpty || !h.scancodes.isEmpty {
            logger.info("VNC client left with \(h.keysyms.count + h.scancodes.count) keys down: released them")
        }
    }

    init(scanout: Int, input: any InputSink, logger: Logger, throttle: PasswordThrottle,
         resizeRequest: VNCResizeRequest?) {
        self.scanout = scanout
        self.input = input
        self.logger = logger
        self.throttle = throttle
        self.resizeRequest = resizeRequest
    }

    var clientsConnected: Int { connected.load(ordering: .relaxed) }

    /// The session of the screen `client` belongs to.
    static func of(_ client: rfbClientPtr?) -> VNCSession? {
        guard let client, let context = vireo_vnc_client_context(client) else { return nil }
        return Unmanaged<VNCSession>.fromOpaque(context).takeUnretainedValue()
    }

    static func host(_ client: rfbClientPtr) -> String { String(cString: vireo_vnc_client_host(client)) }

    /// The C entry points, one set for every screen.
    static let hooks = VNCHooks(
        newClient: { client in
            guard let client, let session = VNCSession.of(client) else { return RFB_CLIENT_REFUSE }
            session.connected.add(1, ordering: .relaxed)
            vireo_vnc_note_client_start(client)
            // Zlib at QEMU's default level (9) for viewers that ask none (libvncserver's is 5: 3.7x the bytes per
            // frame of QEMU's server, docs/performance-vnc.md); a viewer's CompressLevel pseudo-encoding overrides.
            client.pointee.zlibCompressLevel = 9
            session.logger.info("VNC client \(host(client)) connected to scanout \(session.scanout)")
            client.pointee.clientGoneHook = { client in
                vireo_vnc_client_gone_barrier()   // libvncserver frees the client right after this hook
                guard let client, let session = VNCSession.of(client) else { return }
                session.releaseHeld(by: client)
                session.connected.subtract(1, ordering: .relaxed)
                session.logger.info("VNC client \(host(client)) left scanout \(session.scanout)")
            }
            return RFB_CLIENT_ACCEPT
        },
        key: { down, keysym, client in
            guard let client, let session = VNCSession.of(client) else { return }
            let sym = UInt32(truncatingIfNeeded: keysym)
            session.noteKeysym(client, sym, down: down != 0)
            session.input.keysym(sym, down: down != 0)
        },
        pointer: { buttons, x, y, client in
            guard let client, let session = VNCSession.of(client) else { return }
            let screen = client.pointee.screen.pointee
            let mask = UInt8(truncatingIfNeeded: buttons)
            session.notePointer(client, x: Int(x), y: Int(y), width: Int(screen.width), height: Int(screen.height),
                                buttons: mask)
            session.input.pointer(scanout: session.scanout, x: Int(x), y: Int(y), width: Int(screen.width),
                                  height: Int(screen.height), buttons: mask)
        },
        cutText: { text, length, client in
            guard let text, length > 0, let session = VNCSession.of(client) else { return }
            // RFB ClientCutText is ISO 8859-1 (libvncserver caps it at 1 MiB before calling here).
            let bytes = UnsafeRawBufferPointer(start: text, count: Int(length))
            session.input.clipboardText(String(bytes.map { Character(Unicode.Scalar($0)) }))
        },
        cutTextUTF8: { text, length, client in
            // The extended clipboard (TigerVNC, noVNC): UTF-8, capped by libvncserver like ClientCutText.
            guard let text, length > 0, let session = VNCSession.of(client) else { return }
            let bytes = UnsafeRawBufferPointer(start: text, count: Int(length))
            session.input.clipboardText(String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self))
        },
        setDesktopSize: { width, height, screens, _, client in
            guard let client, let session = VNCSession.of(client) else { return rfbExtDesktopSize_ResizeProhibited }
            guard screens >= 1, (16...16384).contains(width), (16...16384).contains(height) else {
                return rfbExtDesktopSize_InvalidScreenLayout
            }
            guard let request = session.resizeRequest else {
                session.logger.info("VNC client \(host(client)) asked for \(width)x\(height): resizing is not available")
                return rfbExtDesktopSize_ResizeProhibited
            }
            if let refusal = request(session.scanout, UInt32(width), UInt32(height)) {
                session.logger.notice("VNC client \(host(client)) asked for \(width)x\(height): refused: \(refusal)")
                return rfbExtDesktopSize_ResizeProhibited
            }
            session.logger.info("VNC client \(host(client)) asked for \(width)x\(height): passed to the guest")
            return rfbExtDesktopSize_Success
        },
        updateStarting: { client in
            guard let session = VNCSession.of(client) else { return }
            vireo_vnc_frame_guard_enter_send(session.frameGuard)
        },
        updateSent: { client, _ in
            guard let client, let session = VNCSession.of(client) else { return }
            vireo_vnc_frame_guard_leave_send(session.frameGuard)
            if client.pointee.enableCursorShapeUpdates == 0 { session.compositedUpdates.add(1, ordering: .relaxed) }
            vireo_vnc_send_alpha_cursor(client)   // the cursor with its alpha, for clients that list -314
        },
        authGate: { client, phase, accepted in
            guard let client, let session = VNCSession.of(client) else { return 0 }
            let address = host(client)
            if phase == Int32(VIREO_VNC_AUTH_BEFORE) {
                guard let wait = session.throttle.reserveTurn(for: address) else {
                    session.logger.warning("VNC client \(address): too many wrong passwords queued; refused unchecked")
                    return 0
                }
                // This runs on the client's own thread: only this connection waits.
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                return 1
            }
            session.throttle.record(accepted != 0, for: address)
            if accepted == 0 { session.logger.warning("VNC client \(address): wrong password") }
            return 1
        })

    /// Extended key events (QEMU's pseudo-encoding), registered once per process.
    static let scancodeHandler: vireo_vnc_scancode_handler = { client, scancode, keysym, down in
        guard let client, let session = VNCSession.of(client) else { return }
        session.noteScancode(client, scancode, keysym: keysym, down: down != 0)
        session.input.scancode(scancode, keysym: keysym, down: down != 0)
    }
}

/// libvncserver's own log lines (process-wide), at debug level unless they explain a dropped client or a failure.
enum LibVNCLog {
    static let logger = Logger(label: "vireo.vnc.libvncserver")
    /// Also get every line (tests read why a client was dropped here), by registration id.
    static let observers = Mutex<[Int: @Sendable (String) -> Void]>([:])
    private static let setUp: Void = {
        vireo_vnc_set_log_handler { isError, line in
            guard let line else { return }
            let text = String(cString: line)
            for observe in observers.withLock({ Array($0.values) }) { observe(text) }
            let lower = text.lowercased()
            let explainsTrouble = ["clos", "error", "too ", "invalid", "unknown", "fail", "refus", "timeout",
                                   "timed out", "bad"].contains { lower.contains($0) }
            if isError != 0 {
                logger.warning("\(text)")
            } else if explainsTrouble {
                logger.notice("\(text)")
            } else {
                logger.debug("\(text)")
            }
        }
        vireo_vnc_register_qemu_key_extension(VNCSession.scancodeHandler)
        vireo_vnc_register_alpha_cursor_extension()
    }()
    static func install() { _ = setUp }
}
