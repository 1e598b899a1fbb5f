// The strip encoder (PNG written with zlib, strips deflated in parallel): byte-exact round trips through libpng at
// sizes from 1x1 to 4K, with one strip and many, on any thread count; a well-formed container (chunk CRCs, one zlib
// stream, IDAT per strip); deterministic output; the SIMD Adler-32; and netpbm's pngtopnm decoding the same pixels.
import CPNG
import Display
import DisplayPNG
import Foundation
import Testing

private let noLimit = 1 << 30

/// Frames for these tests, filled through raw pointers (4K frames are too slow pixel by pixel in a debug build).
enum StripImages {
    /// `kind`: "noise" (incompressible), "desktop" (flat areas, a gradient and text-like dots), "ramps", "mixed"
    /// (noise in the top half, desktop below).
    static func frame(width: UInt32, height: UInt32, kind: String, seed: UInt64 = 1) -> Frame {
        let set = DisplaySet(modes: [DisplayMode(enabled: true, width: width, height: height)])
        set.enable(0, width: width, height: height)
        var rng = SeededRandom(state: seed)
        let k = kind == "noise" ? 0 : kind == "desktop" ? 1 : kind == "mixed" ? 3 : 2   // not a String compare per pixel
        set.update(0, damage: Rect(x: 0, y: 0, width: width, height: height)) { raw, stride in
            let p = raw.bindMemory(to: UInt8.self)
            let w = Int(width), h = Int(height)
            for y in 0..<h {
                var i = y * stride
                for x in 0..<w {
                    switch k == 3 ? (y < h / 2 ? 0 : 1) : k {
                    case 0:
                        let v = rng.next()
                        p[i] = UInt8(truncatingIfNeeded: v); p[i + 1] = UInt8(truncatingIfNeeded: v >> 8)
                        p[i + 2] = UInt8(truncatingIfNeeded: v >> 16); p[i + 3] = UInt8(truncatingIfNeeded: v >> 24)
                    case 1:
                        let inWindow = x % 700 > 60 && y % 500 > 40
                        let dot = inWindow && (x &* 31 ^ y &* 17) % 11 == 0 && y % 20 > 4
                        p[i] = dot ? 20 : inWindow ? 250 : UInt8(truncatingIfNeeded: 120 + y * 100 / h)
                        p[i + 1] = dot ? 20 : inWindow ? 250 : UInt8(truncatingIfNeeded: 60 + x * 60 / w)
                        p[i + 2] = dot ? 20 : inWindow ? 250 : 30
                        p[i + 3] = 0x77
                    default:
                        p[i] = UInt8(truncatingIfNeeded: x); p[i + 1] = UInt8(truncatingIfNeeded: y)
                        p[i + 2] = UInt8(truncatingIfNeeded: x &+ y); p[i + 3] = 0
                    }
                    i += 4
                }
            }
        }
        return set.snapshot(0)!
    }

    /// R, G, B, 255 per pixel of the whole frame.
    static func expectedRGBA(_ frame: Frame) -> [UInt8] {
        let count = Int(frame.width) * Int(frame.height)
        return [UInt8](unsafeUninitializedCapacity: count * 4) { out, n in
            frame.pixels.withUnsafeBufferPointer { src in
                for i in 0..<count {
                    out[4 * i] = src[4 * i + 2]; out[4 * i + 1] = src[4 * i + 1]; out[4 * i + 2] = src[4 * i]
                    out[4 * i + 3] = 255
                }
            }
            n = count * 4
        }
    }
}

/// The chunks of a PNG: (type, data), after checking the signature, every length and every CRC.
private func chunks(_ png: [UInt8]) -> [(String, [UInt8])]? {
    guard png.count >= 8, Array(png[0..<8]) == PNGWriter.signature else { return nil }
    var out: [(String, [UInt8])] = []
    var i = 8
    while i + 12 <= png.count {
        let len = Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3])
        guard i + 12 + len <= png.count else { return nil }
        let typeAndData = Array(png[(i + 4)..<(i + 8 + len)])
        let crc = UInt32(png[i + 8 + len]) << 24 | UInt32(png[i + 9 + len]) << 16 | UInt32(png[i + 10 + len]) << 8
            | UInt32(png[i + 11 + len])
        guard PNGWriter.crc32(typeAndData) == crc else { return nil }
        out.append((String(decoding: typeAndData[0..<4], as: UTF8.self), Array(typeAndData[4...])))
        i += 12 + len
    }
    return i == png.count ? out : nil
}

private func options(_ base: PNGOptions, threads: Int) -> PNGOptions {
    var o = base
    o.threads = threads
    return o
}

@Suite("PNG strip encoder")
struct StripEncoderTests {
    @Test("round trips byte-exact at sizes from 1x1 to 4K, on 1, 2, 3 and 16 threads", arguments: [
        (1, 1), (2, 1), (1, 2), (3, 7), (7, 3), (1, 3000), (3000, 1), (97, 61), (640, 480), (1001, 777),
        (1920, 1080), (1920, 1081), (257, 2049), (3840, 2160),
    ])
    func sizes(width: Int, height: Int) throws {
        for kind in ["noise", "desktop"] {
            let frame = StripImages.frame(width: UInt32(width), height: UInt32(height), kind: kind,
                                          seed: UInt64(width * 7919 + height))
            let expected = StripImages.expectedRGBA(frame)
            for threads in [1, 2, 3, 16] {
                let png = try PNGEncoder.encode(frame, options: options(.fast, threads: threads))
                let image = try PNGDecoder.decodeRGBA(png, maxPixels: noLimit)
                #expect(image.width == UInt32(width) && image.height == UInt32(height))
                #expect(image.rgba == expected, "\(width)x\(height) \(kind) on \(threads) threads")
            }
        }
    }

    @Test("every filter, strategy and level round trips across many strips", arguments: [0, 1, 2, 6, 9])
    func settings(level: Int) throws {
        // 1001x333: 1 MB of rows, five strips on 16 threads (67 rows, the last 65).
        let frames = ["noise", "desktop", "ramps", "mixed"].map { StripImages.frame(width: 1001, height: 333, kind: $0) }
        for frame in frames {
            let expected = StripImages.expectedRGBA(frame)
            for filter in PNGFilter.allCases {
                for strategy in PNGStrategy.allCases {
                    let o = PNGOptions(zlibLevel: level, filter: filter, strategy: strategy, threads: 16)
                    let image = try PNGDecoder.decodeRGBA(try PNGEncoder.encode(frame, options: o), maxPixels: noLimit)
                    #expect(image.rgba == expected, "\(o)")
                }
            }
        }
    }

    @Test("regions of a frame (rows further apart than the region is wide) round trip", arguments: [
        Rect(x: 0, y: 0, width: 1, height: 1), Rect(x: 5, y: 3, width: 1000, height: 700),
        Rect(x: 1023, y: 0, width: 1, height: 768), Rect(x: 17, y: 767, width: 999, height: 1),
    ])
    func regions(_ rect: Rect) throws {
        let frame = StripImages.frame(width: 1024, height: 768, kind: "noise", seed: 3)
        for threads in [1, 2, 16] {
            let png = try PNGEncoder.encode(frame, region: rect, options: options(.fast, threads: threads))
            let image = try PNGDecoder.decodeRGBA(png, maxPixels: noLimit)
            #expect(image.width == rect.width && image.height == rect.height)
            #expect(image.rgba == TestImages.expectedRGBA(frame, region: rect), "\(rect) on \(threads) threads")
        }
    }

    @Test("the container: signature, IHDR, one IDAT for all strips with a valid CRC (crc32_combine), one zlib stream, IEND")
    func container() throws {
        let frame = StripImages.frame(width: 1920, height: 1080, kind: "desktop")
        for threads in [1, 4] {
            let png = try PNGEncoder.encode(frame, options: options(.fast, threads: threads))
            let parsed = try #require(chunks(png), "bad signature, length or CRC")
            #expect(parsed.map(\.0).first == "IHDR" && parsed.map(\.0).last == "IEND")
            #expect(parsed[0].1 == PNGWriter.bigEndian(1920) + PNGWriter.bigEndian(1080) + [8, 2, 0, 0, 0])
            let idat = parsed.filter { $0.0 == "IDAT" }
            #expect(idat.count == 1, "IDAT chunks on \(threads) threads (16 strips on 4)")
            #expect(parsed.count == idat.count + 2)
            let zlib = idat.flatMap(\.1)
            #expect((Int(zlib[0]) << 8 | Int(zlib[1])) % 31 == 0 && zlib[0] == 0x78, "zlib header")
        }
    }

    @Test("the same frame and settings give the same bytes on every run, whichever thread takes which strip")
    func deterministic() throws {
        let frame = StripImages.frame(width: 1920, height: 1080, kind: "desktop")
        let o = options(.fast, threads: 3)
        let first = try PNGEncoder.encode(frame, options: o)
        for _ in 0..<5 { #expect(try PNGEncoder.encode(frame, options: o) == first) }
    }

    @Test("same pixels as libpng's encoder; sizes within 1% of it on one strip")
    func matchesLibPNG() throws {
        let frame = StripImages.frame(width: 800, height: 600, kind: "desktop")
        for o in [PNGOptions.fast, .small, PNGOptions(zlibLevel: 1, filter: .none, strategy: .default)] {
            let ours = try PNGEncoder.encode(frame, options: options(o, threads: 1))
            let theirs = try PNGEncoder._encodeWithLibPNG(frame, options: o)
            #expect(try PNGDecoder.decodeRGBA(ours, maxPixels: noLimit)
                    == PNGDecoder.decodeRGBA(theirs, maxPixels: noLimit))
            if o.filter != .adaptive {   // adaptive: the same heuristic, but libpng weighs its choices differently
                #expect(abs(ours.count - theirs.count) <= theirs.count / 100, "\(o): \(ours.count) vs \(theirs.count)")
            }
        }
    }

    @Test("the SCREEN filter chooses per row: smaller than NONE, SUB or UP alone at the same level, pixels exact")
    func screenFilterChoosesPerRow() throws {
        // Bars (UP wins), a vertical ramp (SUB wins) and desktop rows stacked: no single filter suits them all.
        let bars = TestImages.colourBars(width: 640, height: 160), ramps = TestImages.ramps(width: 640, height: 160)
        let desk = StripImages.frame(width: 640, height: 160, kind: "desktop")
        let pixels = bars.pixels + ramps.pixels + desk.pixels
        let frame = Frame(width: 640, height: 480, pixels: pixels, frameCounter: 0)
        func size(_ f: PNGFilter) throws -> Int {
            try PNGEncoder.encode(frame, options: PNGOptions(zlibLevel: 6, filter: f, strategy: .default, threads: 1)).count
        }
        let screen = try size(.screen)
        for single in [PNGFilter.none, .sub, .up] { #expect(screen < (try size(single)), "SCREEN \(screen) vs \(single)") }
        let png = try PNGEncoder.encode(frame, options: .compact)
        #expect(try PNGDecoder.decodeRGBA(png, maxPixels: noLimit).rgba == StripImages.expectedRGBA(frame))
    }

    @Test("rows after incompressible ones are compressed again (stored batches probe the real level)")
    func incompressibleThenDesktop() throws {
        for threads in [1, 2] {
            let noise = try PNGEncoder.encode(StripImages.frame(width: 1920, height: 1080, kind: "noise"),
                                              options: options(.fast, threads: threads))
            let mixedFrame = StripImages.frame(width: 1920, height: 1080, kind: "mixed")
            let mixed = try PNGEncoder.encode(mixedFrame, options: options(.fast, threads: threads))
            #expect(mixed.count < noise.count * 6 / 10, "\(mixed.count) vs \(noise.count) on \(threads) threads")
            #expect(try PNGDecoder.decodeRGBA(mixed, maxPixels: noLimit).rgba == StripImages.expectedRGBA(mixedFrame))
        }
    }

    @Test("a negative thread count is refused")
    func negativeThreads() {
        let frame = StripImages.frame(width: 4, height: 4, kind: "ramps")
        #expect(throws: PNGError.invalidOptions("threads -1")) {
            try PNGEncoder.encode(frame, options: options(.fast, threads: -1))
        }
    }

    @Test("the SIMD Adler-32 equals zlib's definition at every length and alignment")
    func adler32() {
        var rng = SeededRandom(state: 99)
        let bytes = (0..<70_000).map { i in i % 5 == 0 ? 255 : UInt8(truncatingIfNeeded: rng.next()) }
        func reference(_ start: UInt32, _ slice: ArraySlice<UInt8>) -> UInt32 {
            var a = start & 0xFFFF, b = start >> 16
            for byte in slice { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
            return b << 16 | a
        }
        let cases = (0..<200).map { ($0 % 50, $0) } + [(0, 5551), (0, 5552), (0, 5553), (3, 11_104), (1, 69_999)]
        bytes.withUnsafeBufferPointer { p in
            for (offset, length) in cases {
                for start: UInt32 in [1, 65520 << 16 | 65520] {
                    let slice = bytes[offset..<(offset + length)]
                    #expect(cpng_adler32(start, p.baseAddress! + offset, length) == reference(start, slice),
                            "offset \(offset) length \(length)")
                }
            }
        }
        let ones = [UInt8](repeating: 255, count: 1 << 20)   // the worst case for overflow between reductions
        #expect(cpng_adler32(1, ones, ones.count) == reference(1, ones[...]))
    }
}

/// netpbm's pngtopnm, a decoder that shares no code with ours, must read the same pixels.
private let pngtopnm = ["/usr/bin/pngtopnm", "/usr/local/bin/pngtopnm"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// Runs `tool` on `png` (as a file) and returns its stdout.
private func run(_ tool: String, _ arguments: [String] = [], png: [UInt8]) throws -> (Int32, [UInt8]) {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("strip-\(UUID().uuidString).png")
    try Data(png).write(to: url)
    defer { try? FileManager.default.removeItem(at: url) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments + [url.path]
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()   // before waiting: the pipe must not fill up
    process.waitUntilExit()
    return (process.terminationStatus, [UInt8](data))
}

/// Width, height and R,G,B,255 pixels of a binary PPM (P6, maxval 255).
private func parsePPM(_ ppm: [UInt8]) -> (Int, Int, [UInt8])? {
    var i = 0
    func token() -> Int? {
        while i < ppm.count, ppm[i] == 0x23 || ppm[i] <= 0x20 {   // whitespace and # comments
            if ppm[i] == 0x23 { while i < ppm.count, ppm[i] != 0x0A { i += 1 } } else { i += 1 }
        }
        var value = 0, digits = 0
        while i < ppm.count, (0x30...0x39).contains(ppm[i]) { value = value * 10 + Int(ppm[i] - 0x30); i += 1; digits += 1 }
        return digits > 0 ? value : nil
    }
    guard ppm.count > 2, ppm[0] == 0x50, ppm[1] == 0x36 else { return nil }
    i = 2
    guard let w = token(), let h = token(), let maxval = token(), maxval == 255 else { return nil }
    i += 1   // the single whitespace byte before the raster
    guard ppm.count - i == w * h * 3 else { return nil }
    let start = i
    let rgba = [UInt8](unsafeUninitializedCapacity: w * h * 4) { out, n in
        for p in 0..<(w * h) {
            out[4 * p] = ppm[start + 3 * p]; out[4 * p + 1] = ppm[start + 3 * p + 1]
            out[4 * p + 2] = ppm[start + 3 * p + 2]; out[4 * p + 3] = 255
        }
        n = w * h * 4
    }
    return (w, h, rgba)
}

@Suite("PNG strip encoder, checked by netpbm")
struct ExternalDecoderTests {
    @Test("pngtopnm decodes the same pixels (multi-strip, odd sizes, 1x1)",
          .enabled(if: pngtopnm != nil, "SKIPPED: pngtopnm (netpbm) is not installed"),
          arguments: [(1, 1), (3, 7), (1001, 777), (1920, 1080)])
    func pngtopnmDecodes(width: Int, height: Int) throws {
        for kind in ["noise", "desktop"] {
            let frame = StripImages.frame(width: UInt32(width), height: UInt32(height), kind: kind)
            let png = try PNGEncoder.encode(frame, options: options(.fast, threads: 4))
            let (status, ppm) = try run(pngtopnm!, png: png)
            #expect(status == 0, "pngtopnm exit status")
            let decoded = try #require(parsePPM(ppm), "pngtopnm output is not a 24-bit PPM")
            #expect(decoded.0 == width && decoded.1 == height)
            #expect(decoded.2 == StripImages.expectedRGBA(frame), "\(width)x\(height) \(kind)")
        }
    }

    @Test("pngcheck accepts the file", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/pngcheck"),
                                                "SKIPPED: pngcheck is not installed (pngtopnm checks decoding)"))
    func pngcheck() throws {
        let frame = StripImages.frame(width: 1920, height: 1080, kind: "desktop")
        let (status, _) = try run("/usr/bin/pngcheck", png: try PNGEncoder.encode(frame, options: options(.fast, threads: 4)))
        #expect(status == 0)
    }
}
