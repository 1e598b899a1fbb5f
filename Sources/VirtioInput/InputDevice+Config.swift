// InputDevice+Config: `struct virtio_input_config` ([VIRTIO] 5.8.4): the driver writes select and subsel, then
// reads size and the union `u`. QEMU's vhost-user-input forwards every config write as a whole-config SET_CONFIG
// and reads the whole config back with GET_CONFIG, so only bytes 0 (select) and 1 (subsel) of a write count.
import Wire

extension InputDevice {
    /// select, subsel, size, reserved[5], u[128].
    public static let configSize = 136
    static let unionOffset = 8
    static let unionSize = 128
    /// ID_NAME / ID_SERIAL are at most this long (they must fit `u`).
    static let maxString = 120

    /// `virtio_input_devids`: BUS_VIRTUAL, and ids of Vireo's own.
    public static let devids = (bustype: UInt16(0x06), vendor: UInt16(0x0627), product: UInt16(0x5649), version: UInt16(1))
    /// Extra EV_KEY bits beyond the keymap: the tablet's buttons.
    static let keyBits: Set<UInt16> = USKeymap.allCodes.union([EventCode.btnLeft, EventCode.btnRight, EventCode.btnMiddle])

    public var configSpace: [UInt8] {
        let (select, subsel) = state.withLock { ($0.select, $0.subsel) }
        let payload = Self.configData(select: select, subsel: subsel, name: nameBytes, serial: serialBytes)
        var w = WireWriter(capacity: Self.configSize)
        w.write(select)
        w.write(subsel)
        w.write(UInt8(payload.count))
        w.write(zeros: 5)
        w.write(bytes: payload)
        w.write(zeros: Self.unionSize - payload.count)
        return w.bytes
    }

    /// Bytes 0 (select) and 1 (subsel) are the driver's; writes elsewhere are ignored (the frontend sends the whole
    /// config back on every write).
    public func writeConfig(offset: UInt32, bytes: [UInt8]) {
        state.withLock { s in
            for (i, byte) in bytes.enumerated() {
                let (pos, overflow) = UInt64(offset).addingReportingOverflow(UInt64(i))
                guard !overflow else { break }
                if pos == 0 { s.select = byte } else if pos == 1 { s.subsel = byte }
            }
        }
    }

    /// The union `u` for (select, subsel): empty (size 0) for anything the device does not have.
    static func configData(select: UInt8, subsel: UInt8, name: [UInt8], serial: [UInt8]) -> [UInt8] {
        switch InputConfigSelect(rawValue: select) {
        case .idName: return subsel == 0 ? name : []
        case .idSerial: return subsel == 0 ? serial : []
        case .idDevids:
            guard subsel == 0 else { return [] }
            var w = WireWriter(capacity: 8)
            w.write(devids.bustype); w.write(devids.vendor); w.write(devids.product); w.write(devids.version)
            return w.bytes
        case .propBits: return []   // no input properties
        case .evBits:
            switch UInt16(subsel) {
            case EventType.syn: return bitmap([EventCode.synReport])
            case EventType.key: return bitmap(keyBits)
            case EventType.rel: return bitmap([EventCode.relHWheel, EventCode.relWheel])
            case EventType.abs: return bitmap([EventCode.absX, EventCode.absY])
            case EventType.led: return bitmap([EventCode.ledNumLock, EventCode.ledCapsLock, EventCode.ledScrollLock])
            default: return []
            }
        case .absInfo:
            guard UInt16(subsel) == EventCode.absX || UInt16(subsel) == EventCode.absY else { return [] }
            var w = WireWriter(capacity: 20)   // virtio_input_absinfo: min, max, fuzz, flat, res
            w.write(UInt32(0)); w.write(EventCode.absMax); w.write(UInt32(0)); w.write(UInt32(0)); w.write(UInt32(0))
            return w.bytes
        case .unset, nil: return []
        }
    }

    /// A bitmap as long as its highest set bit needs (at most `unionSize` bytes).
    static func bitmap(_ bits: Set<UInt16>) -> [UInt8] {
        guard let top = bits.max(), Int(top) / 8 < unionSize else { return [] }
        var out = [UInt8](repeating: 0, count: Int(top) / 8 + 1)
        for b in bits { out[Int(b) / 8] |= 1 << (b % 8) }
        return out
    }
}
