// Keymap: X11 keysyms (RFB KeyEvent) and XT scancodes (QEMU's extended key event) to evdev key codes, for the US
// layout. A keysym that needs Shift on a US keyboard (e.g. 'A', '!') says so: the device presses Shift around it
// when the user does not hold Shift already.
public struct MappedKey: Equatable, Sendable {
    public var code: UInt16
    public var shift: Bool
    public init(_ code: UInt16, shift: Bool = false) { self.code = code; self.shift = shift }
}

public enum USKeymap {
    /// The evdev key for `keysym`, nil when the US layout has none.
    public static func key(forKeysym keysym: UInt32) -> MappedKey? {
        if keysym >= 0x20, keysym <= 0x7e { return ascii[Int(keysym - 0x20)] }
        if let code = special[keysym] { return MappedKey(code) }
        if keysym == 0xfe20 { return MappedKey(15, shift: true) }   // ISO_Left_Tab: Shift+Tab
        return nil
    }

    /// Printable ASCII 0x20...0x7e in order: the key and whether Shift is needed.
    static let ascii: [MappedKey?] = {
        var t = [MappedKey?](repeating: nil, count: 0x5f)
        func set(_ chars: String, _ codes: [UInt16], shift: Bool) {
            for (c, code) in zip(chars.unicodeScalars, codes) { t[Int(c.value) - 0x20] = MappedKey(code, shift: shift) }
        }
        let letters: [UInt16] = [30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22,
                                 47, 17, 45, 21, 44]   // a...z
        set("abcdefghijklmnopqrstuvwxyz", letters, shift: false)
        set("ABCDEFGHIJKLMNOPQRSTUVWXYZ", letters, shift: true)
        set("1234567890", [2, 3, 4, 5, 6, 7, 8, 9, 10, 11], shift: false)
        set("!@#$%^&*()", [2, 3, 4, 5, 6, 7, 8, 9, 10, 11], shift: true)
        set(" -=[];'`\\,./", [57, 12, 13, 26, 27, 39, 40, 41, 43, 51, 52, 53], shift: false)
        set("_+{}:\"~|<>?", [12, 13, 26, 27, 39, 40, 41, 43, 51, 52, 53], shift: true)
        return t
    }()

    /// Keysyms outside printable ASCII (X11 keysymdef.h) that need no Shift.
    static let special: [UInt32: UInt16] = {
        var m: [UInt32: UInt16] = [
            0xff08: 14, 0xff09: 15, 0xff0a: 28, 0xff0d: 28, 0xff13: 119, 0xff14: 70, 0xff15: 99, 0xff1b: 1,
            0xffff: 111,                                                  // BackSpace Tab Linefeed Return ... Delete
            0xff50: 102, 0xff51: 105, 0xff52: 103, 0xff53: 106, 0xff54: 108, 0xff55: 104, 0xff56: 109, 0xff57: 107,
            0xff61: 99, 0xff63: 110, 0xff67: 127, 0xff7f: 69,             // Print Insert Menu Num_Lock
            0xffe1: 42, 0xffe2: 54, 0xffe3: 29, 0xffe4: 97, 0xffe5: 58,   // Shift Control Caps_Lock
            0xffe7: 125, 0xffe8: 126, 0xffe9: 56, 0xffea: 100, 0xffeb: 125, 0xffec: 126,   // Meta Alt Super
            0xfe03: 100,                                                  // ISO_Level3_Shift (AltGr)
            // Keypad.
            0xff8d: 96, 0xff95: 71, 0xff96: 75, 0xff97: 72, 0xff98: 77, 0xff99: 80, 0xff9a: 73, 0xff9b: 81,
            0xff9c: 79, 0xff9d: 76, 0xff9e: 82, 0xff9f: 83, 0xffaa: 55, 0xffab: 78, 0xffac: 121, 0xffad: 74,
            0xffae: 83, 0xffaf: 98, 0xffbd: 117,
            0xffb0: 82, 0xffb1: 79, 0xffb2: 80, 0xffb3: 81, 0xffb4: 75, 0xffb5: 76, 0xffb6: 77, 0xffb7: 71,
            0xffb8: 72, 0xffb9: 73,
        ]
        for i in 0..<10 { m[0xffbe + UInt32(i)] = 59 + UInt16(i) }   // F1...F10
        m[0xffc8] = 87; m[0xffc9] = 88                                // F11, F12
        return m
    }()

    /// Every code the keysym and scancode tables can produce (the EV_KEY bits the device advertises).
    public static let allCodes: Set<UInt16> = {
        var s = Set(ascii.compactMap { $0?.code }).union(special.values)
        s.insert(15)
        s.formUnion(XTScancode.plain.compactMap { $0 == 0 ? nil : $0 })
        s.formUnion(XTScancode.extended.values)
        return s
    }()
}

public enum XTScancode {
    /// The evdev key of an XT (set 1) make code: `0xe0XX` for 0xe0-prefixed keys, or, as QEMU's extended key event
    /// carries them on the wire, `0x80 | XX`. nil when unknown.
    public static func key(forScancode scancode: UInt32) -> UInt16? {
        if scancode >> 8 == 0xe0 { return extended[UInt8(scancode & 0xff)] }
        if scancode >= 0x80, scancode <= 0xff { return extended[UInt8(scancode & 0x7f)] }
        guard scancode < UInt32(plain.count) else { return nil }
        let code = plain[Int(scancode)]
        return code == 0 ? nil : code
    }

    /// Codes 0x01...0x58 are the evdev codes themselves (Linux numbered its keys after set 1); a few beyond.
    static let plain: [UInt16] = {
        var t = [UInt16](repeating: 0, count: 0x80)
        for sc in 0x01...0x53 { t[sc] = UInt16(sc) }
        t[0x54] = 99            // Alt+SysRq
        t[0x56] = 86; t[0x57] = 87; t[0x58] = 88   // 102nd key, F11, F12
        t[0x70] = 93; t[0x73] = 89; t[0x79] = 92; t[0x7b] = 94; t[0x7d] = 124   // Japanese keys
        return t
    }()

    /// 0xe0-prefixed make codes (second byte) to evdev.
    static let extended: [UInt8: UInt16] = [
        0x1c: 96, 0x1d: 97, 0x35: 98, 0x37: 99, 0x38: 100, 0x46: 119, 0x47: 102, 0x48: 103, 0x49: 104, 0x4b: 105,
        0x4d: 106, 0x4f: 107, 0x50: 108, 0x51: 109, 0x52: 110, 0x53: 111, 0x5b: 125, 0x5c: 126, 0x5d: 127,
        0x20: 113, 0x2e: 114, 0x30: 115, 0x5e: 116, 0x5f: 142, 0x63: 143,
    ]
}
