// TestImages: frames built through DisplaySet's public API, reference pixels, and a tiny PNG writer (stored deflate
// blocks, real CRCs) for crafting PNGs the encoder never makes: other colour types, bad headers, corrupt streams.
import Display

/// A deterministic generator (SplitMix64) so failures reproduce.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum TestImages {
    /// A frame from a one-scanout DisplaySet, each pixel (r, g, b) from `color`, X bytes set to `xByte`.
    static func frame(width: UInt32, height: UInt32, xByte: UInt8 = 0x5A,
                      _ color: (Int, Int) -> (UInt8, UInt8, UInt8)) -> Frame {
        let set = DisplaySet(modes: [DisplayMode(enabled: true, width: width, height: height)])
        set.enable(0, width: width, height: height)
        set.update(0, damage: Rect(x: 0, y: 0, width: width, height: height)) { buffer, stride in
            for y in 0..<Int(height) {
                for x in 0..<Int(width) {
                    let (r, g, b) = color(x, y)
                    let i = y * stride + x * 4
                    buffer[i] = b; buffer[i + 1] = g; buffer[i + 2] = r; buffer[i + 3] = xByte
                }
            }
        }
        return set.snapshot(0)!
    }

    static func colourBars(width: UInt32, height: UInt32) -> Frame {
        let bars: [(UInt8, UInt8, UInt8)] = [(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0),
                                             (255, 0, 255), (255, 0, 0), (0, 0, 255), (0, 0, 0)]
        return frame(width: width, height: height) { x, _ in bars[x * bars.count / Int(width)] }
    }

    static func ramps(width: UInt32, height: UInt32) -> Frame {
        frame(width: width, height: height) { x, y in (UInt8(x & 0xFF), UInt8(y & 0xFF), UInt8((x + y) & 0xFF)) }
    }

    static func noise(width: UInt32, height: UInt32, seed: UInt64) -> Frame {
        var rng = SeededRandom(state: seed)
        return frame(width: width, height: height) { _, _ in
            let v = rng.next()
            return (UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v >> 16))
        }
    }

    /// What a decoder should return for `region` of `frame`: R, G, B, 255 per pixel.
    static func expectedRGBA(_ frame: Frame, region: Rect? = nil) -> [UInt8] {
        let r = region ?? Rect(x: 0, y: 0, width: frame.width, height: frame.height)
        var out: [UInt8] = []
        out.reserveCapacity(Int(r.width) * Int(r.height) * 4)
        for y in Int(r.y)..<Int(r.y + r.height) {
            for x in Int(r.x)..<Int(r.x + r.width) {
                let i = y * frame.stride + x * 4
                out += [frame.pixels[i + 2], frame.pixels[i + 1], frame.pixels[i], 255]
            }
        }
        return out
    }
}

/// Builds PNG files by hand: signature, chunks with CRCs, and zlib streams made of stored blocks.
enum PNGWriter {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeAndData = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + typeAndData + bigEndian(crc32(typeAndData))
    }

    static func ihdr(width: UInt32, height: UInt32, bitDepth: UInt8, colorType: UInt8, interlace: UInt8 = 0) -> [UInt8] {
        chunk("IHDR", bigEndian(width) + bigEndian(height) + [bitDepth, colorType, 0, 0, interlace])
    }

    /// A zlib stream of stored (uncompressed) deflate blocks.
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65535, data.count - offset)
            let final: UInt8 = offset + n == data.count ? 1 : 0
            out += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[offset..<offset + n]
            offset += n
        } while offset < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        return out + bigEndian(b << 16 | a)
    }

    /// A whole PNG: `rows` are the raw scanlines without filter bytes (filter NONE is added).
    static func png(width: UInt32, height: UInt32, bitDepth: UInt8, colorType: UInt8, rows: [[UInt8]],
                    extraChunks: [[UInt8]] = []) -> [UInt8] {
        let raw: [UInt8] = rows.flatMap { row -> [UInt8] in [0] + row }
        return signature + ihdr(width: width, height: height, bitDepth: bitDepth, colorType: colorType)
            + extraChunks.flatMap { $0 } + chunk("IDAT", zlibStored(raw)) + chunk("IEND", [])
    }
}
