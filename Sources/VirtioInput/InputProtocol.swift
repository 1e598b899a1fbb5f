// InputProtocol: the virtio-input device's constants and its one wire struct ([VIRTIO] 5.8): device id 18, eventq 0
// and statusq 1, the config selectors, and `struct virtio_input_event` with the evdev types and codes Vireo uses.
import Wire

public enum InputConstants {
    /// [VIRTIO] 5.8.1.
    public static let deviceID: UInt32 = 18
    /// [VIRTIO] 5.8.2: eventq (device -> driver), statusq (driver -> device, e.g. LED state).
    public static let eventQueue = 0
    public static let statusQueue = 1
    public static let queueCount = 2
}

/// `virtio_input_config_select` ([VIRTIO] 5.8.4).
public enum InputConfigSelect: UInt8, Sendable {
    case unset = 0x00
    case idName = 0x01
    case idSerial = 0x02
    case idDevids = 0x03
    case propBits = 0x10
    case evBits = 0x11
    case absInfo = 0x12
}

/// evdev event types (linux/input-event-codes.h) that the device sends or accepts.
public enum EventType {
    public static let syn: UInt16 = 0x00
    public static let key: UInt16 = 0x01
    public static let rel: UInt16 = 0x02
    public static let abs: UInt16 = 0x03
    public static let msc: UInt16 = 0x04
    public static let led: UInt16 = 0x11
    public static let rep: UInt16 = 0x14
}

/// evdev codes used outside the key tables.
public enum EventCode {
    public static let synReport: UInt16 = 0
    public static let absX: UInt16 = 0x00, absY: UInt16 = 0x01
    public static let relHWheel: UInt16 = 0x06, relWheel: UInt16 = 0x08
    public static let btnLeft: UInt16 = 0x110, btnRight: UInt16 = 0x111, btnMiddle: UInt16 = 0x112
    public static let keyLeftShift: UInt16 = 42, keyRightShift: UInt16 = 54
    public static let ledNumLock: UInt16 = 0, ledCapsLock: UInt16 = 1, ledScrollLock: UInt16 = 2
    /// The largest absolute coordinate (the tablet's range is 0...absMax on both axes).
    public static let absMax: UInt32 = 32767
}

/// evdev key values.
public enum KeyValue {
    public static let up: UInt32 = 0, down: UInt32 = 1, autoRepeat: UInt32 = 2
}

/// `struct virtio_input_event` ([VIRTIO] 5.8.6): le16 type, le16 code, le32 value; one per eventq buffer.
public struct VirtioInputEvent: Equatable, Hashable, Sendable, CustomStringConvertible {
    public static let size = 8
    public var type: UInt16
    public var code: UInt16
    public var value: UInt32

    public init(type: UInt16, code: UInt16, value: UInt32) { self.type = type; self.code = code; self.value = value }

    public init(from r: inout WireReader) throws(WireError) {
        type = try r.read(); code = try r.read(); value = try r.read()
    }

    public var encoded: [UInt8] {
        var w = WireWriter(capacity: Self.size)
        w.write(type); w.write(code); w.write(value)
        return w.bytes
    }

    public static let synReport = VirtioInputEvent(type: EventType.syn, code: EventCode.synReport, value: 0)
    public static func key(_ code: UInt16, _ value: UInt32) -> VirtioInputEvent { .init(type: EventType.key, code: code, value: value) }

    public var description: String { "(\(type), \(code), \(Int32(bitPattern: value)))" }
}
