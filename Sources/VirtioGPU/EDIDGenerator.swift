// EDIDGenerator: a 128-byte EDID 1.4 base block whose preferred detailed timing is a scanout's mode.

enum EDIDGenerator {
    static let productName = "Vireo"

    /// An EDID for a width x height display at up to 60 Hz. A detailed timing holds 12-bit sizes, so larger modes
    /// are clamped to 4095; the refresh rate drops below 60 Hz when the pixel clock would not fit 16 bits.
    static func edid(width: UInt32, height: UInt32, serial: UInt32) -> [UInt8] {
        var e = [UInt8](repeating: 0, count: 128)
        e[0..<8] = [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]          // header
        let maker: UInt16 = (letter("V") << 10) | (letter("I") << 5) | letter("R")
        e[8] = UInt8(maker >> 8); e[9] = UInt8(maker & 0xff)              // manufacturer id, big-endian
        e[10] = 0x01; e[11] = 0x00                                         // product code 1
        for i in 0..<4 { e[12 + i] = UInt8(truncatingIfNeeded: serial >> (8 * i)) }
        e[16] = 1; e[17] = 34                                                 // week 1, year 2024
        e[18] = 1; e[19] = 4                                               // EDID 1.4
        e[20] = 0xa5                                                       // digital, 8 bits per colour, DisplayPort
        let w = max(1, min(width, 4095)), h = max(1, min(height, 4095))
        let wmm = w * 254 / 960, hmm = h * 254 / 960                       // 96 dpi
        e[21] = UInt8(clamping: max(1, wmm / 10)); e[22] = UInt8(clamping: max(1, hmm / 10))   // size in cm
        e[23] = 120                                                        // gamma 2.2
        e[24] = 0x06                                                       // sRGB default; preferred timing native
        // Chromaticity (sRGB primaries and D65), 10-bit fractions.
        let c: [UInt16] = [655, 338, 307, 614, 154, 61, 320, 337]          // Rx Ry Gx Gy Bx By Wx Wy
        e[25] = UInt8((c[0] & 3) << 6 | (c[1] & 3) << 4 | (c[2] & 3) << 2 | (c[3] & 3))
        e[26] = UInt8((c[4] & 3) << 6 | (c[5] & 3) << 4 | (c[6] & 3) << 2 | (c[7] & 3))
        for i in 0..<8 { e[27 + i] = UInt8(c[i] >> 2) }
        for i in 0..<8 { e[38 + 2 * i] = 0x01; e[39 + 2 * i] = 0x01 }      // standard timings unused
        e[54..<72] = detailedTiming(width: w, height: h, widthMM: wmm, heightMM: hmm)[...]
        e[72..<90] = nameDescriptor()[...]
        e[90..<108] = dummyDescriptor()[...]
        e[108..<126] = dummyDescriptor()[...]
        e[126] = 0                                                         // no extensions
        let sum = e[0..<127].reduce(UInt8(0)) { $0 &+ $1 }
        e[127] = 0 &- sum                                                  // all 128 bytes sum to 0 mod 256
        return e
    }

    private static func letter(_ s: Character) -> UInt16 { UInt16(s.asciiValue! - 64) }   // 'A' is 1

    /// An 18-byte detailed timing descriptor with reduced blanking.
    private static func detailedTiming(width: UInt32, height: UInt32, widthMM: UInt32, heightMM: UInt32) -> [UInt8] {
        let hBlank: UInt32 = 160, hFront: UInt32 = 48, hSync: UInt32 = 32
        let vBlank: UInt32 = 23, vFront: UInt32 = 3, vSync: UInt32 = 6
        let total = UInt64(width + hBlank) * UInt64(height + vBlank)
        let hz = max(1, min(60, UInt64(655_350_000) / total))              // clock in 10 kHz units <= 65535
        let clock = UInt16(clamping: total * hz / 10_000)
        var d = [UInt8](repeating: 0, count: 18)
        d[0] = UInt8(clock & 0xff); d[1] = UInt8(clock >> 8)
        d[2] = UInt8(width & 0xff); d[3] = UInt8(hBlank & 0xff)
        d[4] = UInt8((width >> 8) << 4 | (hBlank >> 8))
        d[5] = UInt8(height & 0xff); d[6] = UInt8(vBlank & 0xff)
        d[7] = UInt8((height >> 8) << 4 | (vBlank >> 8))
        d[8] = UInt8(hFront & 0xff); d[9] = UInt8(hSync & 0xff)
        d[10] = UInt8((vFront & 0xf) << 4 | (vSync & 0xf))
        d[11] = UInt8((hFront >> 8) << 6 | (hSync >> 8) << 4 | (vFront >> 4) << 2 | (vSync >> 4))
        d[12] = UInt8(widthMM & 0xff); d[13] = UInt8(heightMM & 0xff)
        d[14] = UInt8((widthMM >> 8) << 4 | (heightMM >> 8))
        d[17] = 0x1a                                                       // digital separate sync, +hsync -vsync
        return d
    }

    /// Display product name descriptor (tag 0xfc): up to 13 characters, newline then spaces.
    private static func nameDescriptor() -> [UInt8] {
        var d: [UInt8] = [0, 0, 0, 0xfc, 0]
        var text = Array(productName.utf8.prefix(13))
        if text.count < 13 { text.append(0x0a) }
        while text.count < 13 { text.append(0x20) }
        d += text
        return d
    }

    private static func dummyDescriptor() -> [UInt8] { [0, 0, 0, 0x10] + [UInt8](repeating: 0, count: 14) }
}
