// The virtio-input model without queues: config space, keysym/scancode/pointer/clipboard events, the bounded
// pending queue, statusq input, and bad input of each kind.
import Testing
import VirtioInput
import Wire

func key(_ code: UInt16, _ value: UInt32) -> VirtioInputEvent { .key(code, value) }
let syn = VirtioInputEvent.synReport

extension InputDevice {
    /// Selects (select, subsel) as the driver does and returns (size, u[0..<size]).
    func config(_ select: UInt8, _ subsel: UInt8) -> (size: Int, data: [UInt8]) {
        writeConfig(offset: 0, bytes: [select, subsel])
        let c = configSpace
        return (Int(c[2]), Array(c[8..<8 + Int(c[2])]))
    }
    func drain() -> [VirtioInputEvent] { takeEvents(max: .max) }
}

@Suite struct InputConfigTests {
    @Test("5.8.4: config is 136 bytes; ID_NAME, ID_SERIAL, ID_DEVIDS answer for subsel 0")
    func identity() throws {
        let d = InputDevice()
        #expect(d.configSpace.count == InputDevice.configSize)
        #expect(String(decoding: d.config(0x01, 0).data, as: UTF8.self) == "Vireo keyboard and tablet")
        #expect(String(decoding: d.config(0x02, 0).data, as: UTF8.self) == "vireo-input-0")
        var r = WireReader(d.config(0x03, 0).data)
        #expect(try r.read(UInt16.self) == 0x06)   // BUS_VIRTUAL
        #expect(d.config(0x03, 0).size == 8)
        #expect(d.config(0x01, 1).size == 0)
        #expect(d.config(0x10, 0).size == 0)       // no property bits
        // Names longer than the config's union are cut to 120 bytes.
        let long = InputDevice(name: String(repeating: "ü", count: 200), serial: "")
        #expect(long.config(0x01, 0).size == 120)
        #expect(long.config(0x02, 0).size == 0)
    }

    @Test("5.8.4: EV_BITS for EV_SYN, EV_KEY (keys and tablet buttons), EV_REL (wheels), EV_ABS (X, Y), EV_LED")
    func eventBits() {
        let d = InputDevice()
        func has(_ type: UInt8, _ code: UInt16) -> Bool {
            let (size, data) = d.config(0x11, type)
            return Int(code) / 8 < size && data[Int(code) / 8] & (1 << (code % 8)) != 0
        }
        #expect(has(0, 0))
        for code: UInt16 in [1, 14, 15, 28, 30, 42, 57, 59, 88, 96, 103, 111, 125, 0x110, 0x111, 0x112] { #expect(has(1, code)) }
        #expect(!has(1, 0x14a))   // BTN_TOUCH: not a touch screen
        #expect(has(2, 8) && has(2, 6) && !has(2, 0))
        #expect(has(3, 0) && has(3, 1) && !has(3, 2))
        #expect(has(0x11, 0) && has(0x11, 1) && has(0x11, 2))
        #expect(d.config(0x11, 0x14).size == 0)   // no EV_REP: clients repeat keys themselves
    }

    @Test("5.8.4: ABS_INFO for ABS_X and ABS_Y is 0...32767")
    func absInfo() throws {
        let d = InputDevice()
        for axis: UInt8 in [0, 1] {
            let (size, data) = d.config(0x12, axis)
            #expect(size == 20)
            var r = WireReader(data)
            #expect(try r.read(UInt32.self) == 0)
            #expect(try r.read(UInt32.self) == 32767)
        }
        #expect(d.config(0x12, 2).size == 0)
    }

    @Test("bad input: unknown select, subsel out of range, writes past select/subsel, huge offsets")
    func badSelect() {
        let d = InputDevice()
        for (sel, sub): (UInt8, UInt8) in [(0x00, 0), (0x04, 0), (0x13, 0), (0xff, 0xff), (0x11, 0x1f), (0x11, 0xff), (0x12, 0x3f)] {
            let c = d.config(sel, sub)
            #expect(c.size == 0)
            #expect(d.configSpace.count == 136)
            #expect(d.configSpace[8...].allSatisfy { $0 == 0 })
        }
        // QEMU writes the whole config back: only select and subsel count.
        var whole = [UInt8](repeating: 0xaa, count: 136)
        whole[0] = 0x01; whole[1] = 0
        d.writeConfig(offset: 0, bytes: whole)
        #expect(d.configSpace[0] == 0x01 && d.configSpace[1] == 0 && d.configSpace[2] == 25)
        d.writeConfig(offset: .max, bytes: [1, 2, 3])
        d.writeConfig(offset: 1, bytes: [7])
        #expect(d.configSpace[0] == 0x01 && d.configSpace[1] == 7 && d.configSpace[2] == 0)
    }
}

@Suite struct InputKeyTests {
    @Test("keysyms: letters, digits, named keys map for the US layout; each group ends with SYN_REPORT")
    func keysyms() {
        let d = InputDevice()
        d.keysym(0x61, down: true); d.keysym(0x61, down: false)         // 'a'
        #expect(d.drain() == [key(30, 1), syn, key(30, 0), syn])
        let named: [(UInt32, UInt16)] = [(0x31, 2), (0x30, 11), (0xff0d, 28), (0xff09, 15), (0xff1b, 1), (0xff08, 14),
                                         (0xffff, 111), (0xff50, 102), (0xff57, 107), (0xff55, 104), (0xff56, 109),
                                         (0xff63, 110), (0xff51, 105), (0xff52, 103), (0xff53, 106), (0xff54, 108),
                                         (0xffbe, 59), (0xffc7, 68), (0xffc8, 87), (0xffc9, 88), (0xffe1, 42),
                                         (0xffe3, 29), (0xffe9, 56), (0xffea, 100), (0xffeb, 125), (0xff8d, 96),
                                         (0xffb7, 71), (0xffab, 78), (0xffaf, 98), (0x20, 57), (0x2f, 53)]
        for (sym, code) in named {
            d.keysym(sym, down: true); d.keysym(sym, down: false)
            #expect(d.drain() == [key(code, 1), syn, key(code, 0), syn], "keysym 0x\(String(sym, radix: 16))")
        }
    }

    @Test("shifted symbols press Shift around the key unless the user holds Shift")
    func shift() {
        let d = InputDevice()
        d.keysym(0x41, down: true); d.keysym(0x41, down: false)          // 'A' alone
        #expect(d.drain() == [key(42, 1), key(30, 1), syn, key(30, 0), key(42, 0), syn])
        d.keysym(0x21, down: true); d.keysym(0x21, down: false)          // '!'
        #expect(d.drain() == [key(42, 1), key(2, 1), syn, key(2, 0), key(42, 0), syn])
        d.keysym(0xffe1, down: true); d.keysym(0x41, down: true); d.keysym(0x41, down: false); d.keysym(0xffe1, down: false)
        #expect(d.drain() == [key(42, 1), syn, key(30, 1), syn, key(30, 0), syn, key(42, 0), syn])
        // Two shifted keys overlapping: Shift goes up once, after the last.
        d.keysym(0x40, down: true); d.keysym(0x23, down: true); d.keysym(0x40, down: false); d.keysym(0x23, down: false)
        #expect(d.drain() == [key(42, 1), key(3, 1), syn, key(4, 1), syn, key(3, 0), syn, key(4, 0), key(42, 0), syn])
    }

    @Test("a repeated press is an autorepeat (value 2); a release of a key never pressed sends nothing")
    func repeats() {
        let d = InputDevice()
        d.keysym(0x62, down: true); d.keysym(0x62, down: true); d.keysym(0x62, down: false); d.keysym(0x62, down: false)
        #expect(d.drain() == [key(48, 1), syn, key(48, 2), syn, key(48, 0), syn])
        d.keysym(0xffe4, down: false)
        #expect(d.drain().isEmpty)
    }

    @Test("unmapped keysyms are counted and send nothing")
    func unmapped() {
        let d = InputDevice()
        for sym: UInt32 in [0, 0x1f, 0x7f, 0xe9, 0x20ac, 0x1000_0000, .max] { d.keysym(sym, down: true) }
        #expect(d.drain().isEmpty)
        #expect(d.statistics.unmappedKeys == 7)
    }

    @Test("XT scancodes: plain, 0xe0XX and 0x80|XX extended; unknown ones fall back to the keysym")
    func scancodes() {
        let d = InputDevice()
        let cases: [(UInt32, UInt16)] = [(0x1e, 30), (0x01, 1), (0x1c, 28), (0x39, 57), (0x2a, 42), (0x3b, 59), (0x57, 87),
                                         (0x58, 88), (0x56, 86), (0x47, 71), (0xe01c, 96), (0xe01d, 97), (0xe038, 100),
                                         (0xe048, 103), (0xe050, 108), (0xe04b, 105), (0xe04d, 106), (0xe047, 102),
                                         (0xe04f, 107), (0xe049, 104), (0xe051, 109), (0xe052, 110), (0xe053, 111),
                                         (0xe05b, 125), (0xe035, 98), (0xc8, 103), (0x9c, 96)]
        for (sc, code) in cases {
            d.scancode(sc, keysym: 0, down: true); d.scancode(sc, keysym: 0, down: false)
            #expect(d.drain() == [key(code, 1), syn, key(code, 0), syn], "scancode 0x\(String(sc, radix: 16))")
        }
        // A layout's scancode wins over its keysym (e.g. 'q' on AZERTY is the 'a' key position).
        d.scancode(0x10, keysym: 0x61, down: true)
        #expect(d.drain() == [key(16, 1), syn])
        d.scancode(0xe0ff, keysym: 0x7a, down: true)
        #expect(d.drain() == [key(44, 1), syn])
        d.scancode(0x12345, keysym: 0, down: true)
        #expect(d.drain().isEmpty)
        #expect(d.statistics.unmappedKeys == 1)
    }
}

@Suite struct InputPointerTests {
    @Test("pointer positions scale to 0...32767 and clamp; buttons and wheel follow the RFB mask")
    func pointer() {
        let d = InputDevice()
        let abs = { (x: UInt32, y: UInt32) in [VirtioInputEvent(type: 3, code: 0, value: x), VirtioInputEvent(type: 3, code: 1, value: y)] }
        d.pointer(x: 0, y: 0, width: 1280, height: 800, buttons: 0)
        #expect(d.drain() == abs(0, 0) + [syn])
        d.pointer(x: 1279, y: 799, width: 1280, height: 800, buttons: 1)
        #expect(d.drain() == abs(32767, 32767) + [key(0x110, 1), syn])
        d.pointer(x: 5000, y: -7, width: 1280, height: 800, buttons: 0b100)
        #expect(d.drain() == abs(32767, 0) + [key(0x110, 0), key(0x111, 1), syn])
        d.pointer(x: 640, y: 400, width: 1281, height: 801, buttons: 0b010)
        #expect(d.drain() == abs(16383, 16383) + [key(0x112, 1), key(0x111, 0), syn])
        d.pointer(x: 640, y: 400, width: 1281, height: 801, buttons: 0b0001_0000 | 0b010)
        #expect(d.drain() == abs(16383, 16383) + [VirtioInputEvent(type: 2, code: 8, value: UInt32(bitPattern: -1)), syn])
        d.pointer(x: 640, y: 400, width: 1281, height: 801, buttons: 0b0100_1000)
        #expect(d.drain() == abs(16383, 16383) + [key(0x112, 0), VirtioInputEvent(type: 2, code: 8, value: 1),
                                                   VirtioInputEvent(type: 2, code: 6, value: 1), syn])
        d.pointer(x: 1, y: 1, width: 0, height: 10, buttons: 0)
        d.pointer(x: .max, y: .min, width: .max, height: 1, buttons: 0)
        #expect(d.drain() == abs(32767, 0) + [syn])
    }

    @Test("queued motion coalesces: only the newest position waits")
    func coalesce() {
        let d = InputDevice()
        for x in 0..<100 { d.pointer(x: x, y: 0, width: 100, height: 100, buttons: 0) }
        #expect(d.pendingEventCount == 3)
        #expect(d.drain().first?.value == 32767)
        #expect(d.statistics.motionCoalesced == 99)
    }
}

@Suite struct InputQueueTests {
    @Test("a full queue drops the oldest presses and motion, never releases: no key sticks")
    func overflow() {
        var limits = InputLimits()
        limits.maxPendingEvents = 64
        let d = InputDevice(limits: limits)
        d.keysym(0x61, down: true)                       // 'a' reaches the guest, then is held while it reads nothing
        #expect(d.takeEvents(max: 2) == [key(30, 1), syn])
        d.keysym(0x7a, down: true)                       // 'z' pressed, never seen by the guest
        for i in 0..<200 {
            let sym = UInt32(0x62 + i % 20)
            d.keysym(sym, down: true); d.keysym(sym, down: false)
            d.pointer(x: i, y: i, width: 300, height: 300, buttons: UInt8(i % 2))
        }
        d.keysym(0x61, down: false)
        d.keysym(0x7a, down: false)
        d.pointer(x: 0, y: 0, width: 300, height: 300, buttons: 0)
        #expect(d.pendingEventCount <= 64)
        #expect(d.statistics.eventsDropped > 0)
        #expect(d.statistics.releasesDropped == 0)
        let events = d.drain()
        #expect(events.contains(key(30, 0)))
        #expect(!events.contains(key(44, 0)))            // its press was dropped: so is its release
        #expect(events.last == syn)
        // Every key or button pressed in what arrives is released later in it.
        var down: Set<UInt16> = []
        for e in events where e.type == 1 { if e.value == 0 { down.remove(e.code) } else { down.insert(e.code) } }
        #expect(down.isEmpty)
    }

    @Test("events split over buffers keep their order; reset empties the queue and forgets pressed keys")
    func partialAndReset() {
        let d = InputDevice()
        d.keysym(0x41, down: true)
        #expect(d.takeEvents(max: 1) == [key(42, 1)])
        #expect(d.takeEvents(max: 1) == [key(30, 1)])
        #expect(d.takeEvents(max: 5) == [syn])
        #expect(!d.hasPendingEvents)
        d.keysym(0x62, down: true)
        d.reset()
        #expect(!d.hasPendingEvents)
        d.keysym(0x62, down: false)                      // forgotten: no release
        #expect(d.drain().isEmpty)
    }
}

@Suite struct InputClipboardTests {
    @Test("clipboard text is typed: ASCII with Shift where needed, newline as Return, others skipped")
    func typing() {
        let d = InputDevice()
        #expect(d.type(text: "aB!\r\n\té") == 5)
        #expect(d.drain() == [key(30, 1), syn, key(30, 0), syn,
                              key(42, 1), key(48, 1), syn, key(48, 0), key(42, 0), syn,
                              key(42, 1), key(2, 1), syn, key(2, 0), key(42, 0), syn,
                              key(28, 1), syn, key(28, 0), syn, key(15, 1), syn, key(15, 0), syn])
        #expect(d.statistics.clipboardCharactersSkipped == 2)   // é is two UTF-8 bytes
    }

    @Test("bad input: a huge clipboard is cut to the bound and typed as the queue drains, memory stays bounded")
    func huge() {
        var limits = InputLimits()
        limits.maxPendingEvents = 64
        limits.maxClipboardCharacters = 1000
        let d = InputDevice(limits: limits)
        let text = String(repeating: "x", count: 5_000_000)
        #expect(d.type(text: text) == 1000)
        #expect(d.statistics.clipboardTruncated == 1)
        #expect(d.pendingEventCount <= 64)
        var presses = 0, batches = 0
        while d.hasPendingEvents, batches < 10_000 {
            presses += d.takeEvents(max: 4).count { $0 == key(45, 1) }
            batches += 1
        }
        #expect(presses == 1000)
        #expect(d.statistics.eventsDropped == 0)
        #expect(d.type(text: "") == 0)
    }
}

@Suite struct InputStatusTests {
    @Test("statusq: LED events are recorded; SYN accepted")
    func leds() {
        let d = InputDevice()
        let caps = VirtioInputEvent(type: 0x11, code: 1, value: 1).encoded
        #expect(d.handleStatus(caps))
        #expect(d.handleStatus(VirtioInputEvent(type: 0x11, code: 0, value: 1).encoded + VirtioInputEvent.synReport.encoded))
        #expect(d.statistics.leds == 0b11)
        #expect(d.handleStatus(VirtioInputEvent(type: 0x11, code: 1, value: 0).encoded))
        #expect(d.statistics.leds == 0b01)
    }

    @Test("bad input: short, empty, odd-sized and unknown statusq buffers are refused and counted")
    func bad() {
        let d = InputDevice()
        #expect(!d.handleStatus([]))
        #expect(!d.handleStatus([0x11, 0, 1]))
        #expect(!d.handleStatus([UInt8](repeating: 0xff, count: 12)))
        #expect(!d.handleStatus(VirtioInputEvent(type: 1, code: 30, value: 1).encoded))
        #expect(!d.handleStatus(VirtioInputEvent(type: 0x11, code: 0xffff, value: 1).encoded))
        #expect(d.statistics.badStatusBuffers == 5)
        #expect(d.statistics.leds == 0)
        #expect(!d.hasPendingEvents)
    }
}
