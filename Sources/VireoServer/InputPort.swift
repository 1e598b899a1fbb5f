// InputPort: the client's virtio-input device as display exporters see it. It is the `InputSink` the VNC server
// calls (from its own threads): with an input frontend connected (`--input-socket`, QEMU's vhost-user-input-pci)
// events go to the device and the serving InputConnection is woken through `eventsPending`; with none, they are
// dropped, and that is logged once per disconnected spell. `DroppingInputSink` stands in when no input socket is
// configured at all.
import Display
import Logging
import Synchronization
import VireoSystem
import VirtioInput

public final class InputPort: InputSink, Sendable {
    /// The device model; its state outlives connections (each connection resets it when it ends).
    public let device: InputDevice
    /// Signalled after events were queued; watched by the InputConnection's epoll.
    let eventsPending: OwnedFD
    private let logger: Logger
    private let state: Mutex<(connections: Int, loggedDrop: Bool, dropped: UInt64)>

    public init(limits: InputLimits = InputLimits(), logger: Logger) throws {
        // The throwing call comes before any stored property is set: Swift 6.3's release build crashes ("Found
        // ownership error") on a throwing init that must destroy an already initialized Mutex.
        eventsPending = try EventFD.make()
        var deviceLogger = logger
        deviceLogger[metadataKey: "device"] = "virtio-input"
        device = InputDevice(limits: limits, logger: deviceLogger)
        self.logger = logger
        state = Mutex((0, false, 0))
    }

    /// Whether an input frontend is connected now.
    public var isConnected: Bool { state.withLock { $0.connections > 0 } }
    /// User input events dropped because no input device was connected.
    public var droppedWhileDisconnected: UInt64 { state.withLock { $0.dropped } }

    func connectionStarted() { state.withLock { $0.connections += 1; $0.loggedDrop = false } }
    func connectionEnded() { state.withLock { $0.connections -= 1 } }

    /// Runs `body` on the device when a frontend is connected, then wakes its connection; otherwise drops.
    private func deliver(_ what: @autoclosure () -> String, _ body: (InputDevice) -> Void) {
        let (connected, logNow) = state.withLock { s -> (Bool, Bool) in
            guard s.connections == 0 else { return (true, false) }
            s.dropped &+= 1
            defer { s.loggedDrop = true }
            return (false, !s.loggedDrop)
        }
        guard connected else {
            if logNow { logger.notice("no input device connected: \(what()) and later input are dropped") }
            return
        }
        body(device)
        EventFD.signal(eventsPending)
    }

    public func keysym(_ keysym: UInt32, down: Bool) { deliver("key events") { $0.keysym(keysym, down: down) } }
    public func scancode(_ scancode: UInt32, keysym: UInt32, down: Bool) {
        deliver("key events") { $0.scancode(scancode, keysym: keysym, down: down) }
    }
    public func pointer(scanout: Int, x: Int, y: Int, width: Int, height: Int, buttons: UInt8) {
        // One tablet for every scanout: the position is relative to the scanout the pointer is on.
        deliver("pointer events") { $0.pointer(x: x, y: y, width: width, height: height, buttons: buttons) }
    }
    public func clipboardText(_ text: String) { type(text: text) }

    /// Types `text` (as clipboard text is); returns how many characters will be typed (0 with no device connected).
    @discardableResult
    public func type(text: String) -> Int {
        var accepted = 0
        deliver("clipboard text") { accepted = $0.type(text: text) }
        return accepted
    }
}

/// The sink when no input device is configured: every event is dropped; the first is logged.
public final class DroppingInputSink: InputSink, Sendable {
    private let logger: Logger
    private let state = Mutex<(logged: Bool, dropped: UInt64)>((false, 0))
    public init(logger: Logger) { self.logger = logger }
    public var dropped: UInt64 { state.withLock { $0.dropped } }
    private func drop(_ what: String) {
        let first = state.withLock { s -> Bool in
            s.dropped &+= 1
            defer { s.logged = true }
            return !s.logged
        }
        if first { logger.notice("no input device (start with --input-socket): \(what) and later input are dropped") }
    }
    public func keysym(_ keysym: UInt32, down: Bool) { drop("key events") }
    public func scancode(_ scancode: UInt32, keysym: UInt32, down: Bool) { drop("key events") }
    public func pointer(scanout: Int, x: Int, y: Int, width: Int, height: Int, buttons: UInt8) { drop("pointer events") }
    public func clipboardText(_ text: String) { drop("clipboard text") }
}
