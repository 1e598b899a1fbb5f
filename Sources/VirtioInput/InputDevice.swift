// InputDevice: the queue-free virtio-input device ([VIRTIO] 5.8), one keyboard plus absolute pointer (a tablet).
// User input (keysyms, scancodes, pointer, clipboard text) becomes evdev events queued for the eventq; the
// connection serving the device takes them one per buffer. The driver's statusq events (LEDs) are checked and
// recorded. Every method may be called from any thread: one lock guards the state.
import Logging
import Synchronization
import VireoLogging
import Wire

/// Bounds of one device.
public struct InputLimits: Sendable {
    /// Events held for the guest when it posts no eventq buffers (past it, see `PendingEvents`).
    public var maxPendingEvents = 1024
    /// Clipboard text typed at most (characters; the rest is cut off and logged).
    public var maxClipboardCharacters = 4096
    public init() {}
}

/// What the device counted since it was made.
public struct InputStatistics: Equatable, Sendable {
    public var eventsQueued: UInt64 = 0
    public var eventsDelivered: UInt64 = 0
    /// Dropped because the pending queue was full.
    public var eventsDropped: UInt64 = 0
    public var releasesDropped: UInt64 = 0
    public var motionCoalesced: UInt64 = 0
    /// Keysyms or scancodes with no evdev key (US layout).
    public var unmappedKeys: UInt64 = 0
    /// Clipboard characters that cannot be typed (not ASCII, control characters) or beyond the bound.
    public var clipboardCharactersSkipped: UInt64 = 0
    public var clipboardTruncated: UInt64 = 0
    /// statusq events seen, and buffers that were not whole `virtio_input_event`s or had unknown types.
    public var statusEvents: UInt64 = 0
    public var badStatusBuffers: UInt64 = 0
    /// The guest's LED state (bit per LED code) from its last EV_LED events.
    public var leds: UInt32 = 0
}

struct InputState {
    var select: UInt8 = 0
    var subsel: UInt8 = 0
    var pending: PendingEvents
    /// Keys down as the guest sees them (evdev codes), and those the device pressed Shift for.
    var pressed: Set<UInt16> = []
    var shiftedFor: Set<UInt16> = []
    var buttons: UInt8 = 0
    /// Clipboard text still to type (ASCII bytes), fed into `pending` as it drains.
    var typing: [UInt8] = []
    var typingAt = 0
    var stats = InputStatistics()
    var warnings: GuestWarningLog
    let logger: Logger
    let limits: InputLimits

    var userShift: Bool { pressed.contains(EventCode.keyLeftShift) || pressed.contains(EventCode.keyRightShift) }

    mutating func queue(_ events: [VirtioInputEvent], releases: Bool = false, motionOnly: Bool = false) {
        guard !events.isEmpty else { return }
        stats.eventsQueued &+= UInt64(events.count + 1)
        pending.append(EventGroup(events: events + [.synReport], releases: releases, motionOnly: motionOnly))
    }
}

public final class InputDevice: Sendable {
    public static let deviceID = InputConstants.deviceID
    /// Features of virtio-input itself: none ([VIRTIO] 5.8.3).
    public static let offeredFeatures: UInt64 = 0

    let state: Mutex<InputState>
    public let limits: InputLimits
    /// ID_NAME and ID_SERIAL, cut to what fits the config (UTF-8 bytes).
    let nameBytes: [UInt8]
    let serialBytes: [UInt8]
    public var name: String { String(decoding: nameBytes, as: UTF8.self) }
    public var serial: String { String(decoding: serialBytes, as: UTF8.self) }

    public init(limits: InputLimits = InputLimits(), name: String = "Vireo keyboard and tablet",
                serial: String = "vireo-input-0", logger: Logger = Logger(label: "vireo.virtio-input")) {
        self.limits = limits
        nameBytes = Array(name.utf8.prefix(InputDevice.maxString))
        serialBytes = Array(serial.utf8.prefix(InputDevice.maxString))
        state = Mutex(InputState(pending: PendingEvents(capacity: limits.maxPendingEvents),
                                 warnings: GuestWarningLog(logger: logger, perSecond: 5, metadata: ["device": "virtio-input"]),
                                 logger: logger, limits: limits))
    }

    // MARK: User input

    /// An RFB KeyEvent: the keysym mapped for the US layout; Shift is pressed around keys that need it.
    public func keysym(_ keysym: UInt32, down: Bool) {
        state.withLock { s in
            guard let key = USKeymap.key(forKeysym: keysym) else {
                s.stats.unmappedKeys &+= 1
                s.logger.debug("keysym 0x\(String(keysym, radix: 16)) has no US-layout key: ignored")
                return
            }
            Self.key(key.code, down: down, shift: key.shift, &s)
        }
    }

    /// QEMU's extended key event: the XT scancode decides (any layout); the keysym only when the scancode is unknown.
    public func scancode(_ scancode: UInt32, keysym: UInt32, down: Bool) {
        if let code = XTScancode.key(forScancode: scancode) {
            state.withLock { Self.key(code, down: down, shift: false, &$0) }
        } else if keysym != 0 {
            self.keysym(keysym, down: down)
        } else {
            state.withLock { $0.stats.unmappedKeys &+= 1 }
        }
    }

    private static func key(_ code: UInt16, down: Bool, shift: Bool, _ s: inout InputState) {
        if down {
            if s.pressed.contains(code) {
                s.queue([.key(code, KeyValue.autoRepeat)])   // the client's own key repeat
                return
            }
            var events: [VirtioInputEvent] = []
            if shift && !s.userShift {
                if s.shiftedFor.isEmpty { events.append(.key(EventCode.keyLeftShift, KeyValue.down)) }
                s.shiftedFor.insert(code)
            }
            s.pressed.insert(code)
            events.append(.key(code, KeyValue.down))
            s.queue(events)
        } else {
            guard s.pressed.remove(code) != nil else { return }   // never pressed: nothing to release
            var events: [VirtioInputEvent] = [.key(code, KeyValue.up)]
            if s.shiftedFor.remove(code) != nil, s.shiftedFor.isEmpty, !s.userShift {
                events.append(.key(EventCode.keyLeftShift, KeyValue.up))
            }
            s.queue(events, releases: true)
        }
    }

    /// The pointer at (x, y) of a width x height picture with the RFB button mask (bit 0 left, 1 middle, 2 right,
    /// 3/4 wheel up/down, 5/6 wheel left/right). Coordinates are scaled to 0...32767 and clamped to the picture.
    public func pointer(x: Int, y: Int, width: Int, height: Int, buttons: UInt8) {
        state.withLock { s in
            guard width > 0, height > 0 else {
                s.logger.debug("pointer event for an empty \(width)x\(height) picture: ignored")
                return
            }
            var events = [VirtioInputEvent(type: EventType.abs, code: EventCode.absX, value: Self.scale(x, width)),
                          VirtioInputEvent(type: EventType.abs, code: EventCode.absY, value: Self.scale(y, height))]
            let old = s.buttons, changed = old ^ buttons
            var releases = false
            for (bit, code) in [(0, EventCode.btnLeft), (1, EventCode.btnMiddle), (2, EventCode.btnRight)]
            where changed & (1 << bit) != 0 {
                let down = buttons & (1 << bit) != 0
                releases = releases || !down
                events.append(.key(code, down ? KeyValue.down : KeyValue.up))
            }
            // Wheel "buttons" count when they go down (RFB clients send a press and a release per notch).
            for (bit, code, value) in [(3, EventCode.relWheel, Int32(1)), (4, EventCode.relWheel, -1),
                                       (5, EventCode.relHWheel, -1), (6, EventCode.relHWheel, 1)]
            where buttons & (1 << bit) != 0 && old & (1 << bit) == 0 {
                events.append(VirtioInputEvent(type: EventType.rel, code: code, value: UInt32(bitPattern: value)))
            }
            s.buttons = buttons
            s.queue(events, releases: releases, motionOnly: events.count == 2)
        }
    }

    /// x of `0..<extent` to 0...absMax, clamped.
    static func scale(_ x: Int, _ extent: Int) -> UInt32 {
        guard extent > 1 else { return 0 }
        let clamped = min(max(x, 0), extent - 1)
        // clamped * absMax / (extent - 1) without overflow for any Int: at most absMax.
        let product = clamped.multipliedFullWidth(by: Int(EventCode.absMax))
        return UInt32((extent - 1).dividingFullWidth(product).quotient)
    }

    /// Clipboard text typed as key presses: printable ASCII, newline (Return) and tab; other characters are
    /// skipped. At most `limits.maxClipboardCharacters` wait to be typed; the rest is cut off (logged).
    /// Returns how many characters will be typed.
    @discardableResult
    public func type(text: String) -> Int {
        state.withLock { s in
            if s.typingAt == s.typing.count { s.typing = []; s.typingAt = 0 }
            let room = s.limits.maxClipboardCharacters - (s.typing.count - s.typingAt)
            var accepted = 0, skipped: UInt64 = 0, cut = false, previous: UInt8 = 0
            for byte in text.utf8 {
                defer { previous = byte }
                guard (0x20...0x7e).contains(byte) || byte == 0x0a || byte == 0x09 || byte == 0x0d else {
                    skipped &+= 1
                    continue
                }
                if byte == 0x0a && previous == 0x0d { continue }   // CR LF types one Return
                guard accepted < room else { cut = true; break }
                s.typing.append(byte == 0x0d ? 0x0a : byte)
                accepted += 1
            }
            s.stats.clipboardCharactersSkipped &+= skipped
            if cut {
                s.stats.clipboardTruncated &+= 1
                s.logger.warning("clipboard text cut to \(s.limits.maxClipboardCharacters) characters")
            }
            Self.feedTyping(&s)
            return accepted
        }
    }

    /// Moves typed characters into the pending queue while it is less than half full.
    private static func feedTyping(_ s: inout InputState) {
        while s.typingAt < s.typing.count, s.pending.count < s.pending.capacity / 2 {
            let byte = s.typing[s.typingAt]
            s.typingAt += 1
            let keysym: UInt32 = byte == 0x0a ? 0xff0d : byte == 0x09 ? 0xff09 : UInt32(byte)
            guard let key = USKeymap.key(forKeysym: keysym) else { continue }
            let shift = key.shift && !s.userShift
            var down: [VirtioInputEvent] = [], up: [VirtioInputEvent] = [.key(key.code, KeyValue.up)]
            if shift { down.append(.key(EventCode.keyLeftShift, KeyValue.down)) }
            down.append(.key(key.code, KeyValue.down))
            if shift { up.append(.key(EventCode.keyLeftShift, KeyValue.up)) }
            s.queue(down)
            s.queue(up, releases: true)
        }
        if s.typingAt == s.typing.count { s.typing = []; s.typingAt = 0 }
    }

    // MARK: The connection's side

    /// Whether events wait for eventq buffers.
    public var hasPendingEvents: Bool { state.withLock { !$0.pending.isEmpty || $0.typingAt < $0.typing.count } }

    /// Up to `max` events for eventq buffers (one per buffer), oldest first.
    public func takeEvents(max: Int) -> [VirtioInputEvent] {
        state.withLock { s in
            Self.feedTyping(&s)
            let out = s.pending.take(max: max)
            s.stats.eventsDelivered &+= UInt64(out.count)
            Self.feedTyping(&s)
            return out
        }
    }

    /// One statusq buffer (its device-readable bytes): whole `virtio_input_event`s. EV_LED updates the recorded
    /// LED state; EV_SYN is accepted; anything else, and a buffer that is empty or not a multiple of 8 bytes, is
    /// refused with a (rate-limited) warning. Returns whether the buffer was acceptable.
    @discardableResult
    public func handleStatus(_ bytes: [UInt8]) -> Bool {
        state.withLock { s in
            guard !bytes.isEmpty, bytes.count % VirtioInputEvent.size == 0 else {
                s.stats.badStatusBuffers &+= 1
                s.warnings.warn("statusq buffer of \(bytes.count) bytes is not whole virtio_input_events")
                return false
            }
            var r = WireReader(bytes)
            var ok = true
            while r.remaining >= VirtioInputEvent.size {
                guard let e = try? VirtioInputEvent(from: &r) else { break }
                s.stats.statusEvents &+= 1
                switch e.type {
                case EventType.led where e.code < 32:
                    if e.value != 0 { s.stats.leds |= 1 << UInt32(e.code) } else { s.stats.leds &= ~(1 << UInt32(e.code)) }
                    s.logger.debug("guest LED \(e.code) \(e.value != 0 ? "on" : "off")")
                case EventType.syn:
                    break
                default:
                    ok = false
                    s.warnings.warn("statusq event \(e) is not an LED event: ignored")
                }
            }
            if !ok { s.stats.badStatusBuffers &+= 1 }
            return ok
        }
    }

    /// Device reset: nothing pending, no key down, config selector cleared. Statistics stay.
    public func reset() {
        state.withLock { s in
            s.pending.removeAll()
            s.pressed = []; s.shiftedFor = []; s.buttons = 0
            s.typing = []; s.typingAt = 0
            s.select = 0; s.subsel = 0
        }
    }

    public var statistics: InputStatistics {
        state.withLock { s in
            var stats = s.stats
            stats.eventsDropped = s.pending.dropped
            stats.releasesDropped = s.pending.releasesDropped
            stats.motionCoalesced = s.pending.coalesced
            return stats
        }
    }

    public var pendingEventCount: Int { state.withLock { $0.pending.count } }
}
