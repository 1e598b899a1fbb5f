// Encode -> decode round trips: byte-exact pixels for every filter and preset, channel order, odd sizes, regions.
import Display
import DisplayPNG
import Testing

private let noLimit = 1 << 30

@Suite("PNG round trips")
struct RoundTripTests {
    static let presets: [PNGOptions] = [.fast, .small, PNGOptions(zlibLevel: 0, filter: .none)]
        + PNGFilter.allCases.map { PNGOptions(zlibLevel: 1, filter: $0) }
        + PNGStrategy.allCases.map { PNGOptions(zlibLevel: 1, filter: .up, strategy: $0) }

    static let frames: [(String, Frame)] = [
        ("colour bars", TestImages.colourBars(width: 64, height: 48)),
        ("ramps", TestImages.ramps(width: 300, height: 260)),
        ("noise", TestImages.noise(width: 97, height: 61, seed: 7)),
    ]

    @Test("encode -> decode is byte-exact", arguments: presets)
    func roundTrip(options: PNGOptions) throws {
        for (name, frame) in Self.frames {
            let png = try PNGEncoder.encode(frame, options: options)
            let image = try PNGDecoder.decodeRGBA(png, maxPixels: noLimit)
            #expect(image.width == frame.width && image.height == frame.height, "\(name)")
            #expect(image.rgba == TestImages.expectedRGBA(frame), "\(name) with \(options)")
        }
    }

    @Test("a pure red BGRX pixel decodes as R=255, G=0, B=0")
    func channelOrder() throws {
        let red = TestImages.frame(width: 1, height: 1) { _, _ in (255, 0, 0) }
        #expect(Array(red.pixels) == [0, 0, 255, 0x5A])   // stored as B, G, R, X
        let image = try PNGDecoder.decodeRGBA(try PNGEncoder.encode(red), maxPixels: 1)
        #expect(image.rgba == [255, 0, 0, 255])
        let mixed = TestImages.frame(width: 3, height: 1) { x, _ in [(255, 0, 0), (0, 255, 0), (0, 0, 255)][x] }
        let decoded = try PNGDecoder.decodeRGBA(try PNGEncoder.encode(mixed), maxPixels: 3)
        #expect(decoded.rgba == [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255])
    }

    @Test("odd sizes round trip", arguments: [(1, 1), (3, 7), (7, 3), (1, 500), (333, 1)])
    func oddSizes(width: Int, height: Int) throws {
        let frame = TestImages.noise(width: UInt32(width), height: UInt32(height), seed: UInt64(width * 1000 + height))
        let image = try PNGDecoder.decodeRGBA(try PNGEncoder.encode(frame), maxPixels: width * height)
        #expect(image.width == UInt32(width) && image.height == UInt32(height))
        #expect(image.rgba == TestImages.expectedRGBA(frame))
    }

    @Test("a region encodes exactly those pixels", arguments: [
        Rect(x: 1, y: 2, width: 3, height: 2), Rect(x: 0, y: 0, width: 40, height: 30),
        Rect(x: 39, y: 29, width: 1, height: 1), Rect(x: 10, y: 0, width: 1, height: 30),
    ])
    func region(_ rect: Rect) throws {
        let frame = TestImages.ramps(width: 40, height: 30)
        let image = try PNGDecoder.decodeRGBA(try PNGEncoder.encode(frame, region: rect), maxPixels: noLimit)
        #expect(image.width == rect.width && image.height == rect.height)
        #expect(image.rgba == TestImages.expectedRGBA(frame, region: rect))
    }
}

@Suite("PNG encoder refusals")
struct EncoderRefusalTests {
    let frame = TestImages.ramps(width: 40, height: 30)

    @Test("a region outside the frame is refused, including ones whose x + width would wrap", arguments: [
        Rect(x: 38, y: 0, width: 3, height: 1), Rect(x: 0, y: 29, width: 1, height: 2),
        Rect(x: 41, y: 0, width: 0, height: 0), Rect(x: 1, y: 0, width: UInt32.max, height: 1),
        Rect(x: UInt32.max, y: UInt32.max, width: 2, height: 2),
    ])
    func regionOutside(_ rect: Rect) {
        #expect(throws: PNGError.regionOutsideFrame(region: rect, width: 40, height: 30)) {
            try PNGEncoder.encode(frame, region: rect)
        }
    }

    @Test("an empty region or a 0x0 frame (disabled scanout) is refused")
    func empty() {
        #expect(throws: PNGError.empty) { try PNGEncoder.encode(frame, region: Rect(x: 5, y: 5, width: 0, height: 3)) }
        var disabled = frame
        disabled.width = 0; disabled.height = 0; disabled.pixels = []
        #expect(throws: PNGError.empty) { try PNGEncoder.encode(disabled) }
    }

    @Test("a pixel buffer shorter than width*4*height is refused before C reads it")
    func shortBuffer() {
        var short = frame
        short.pixels.removeLast()
        #expect(throws: PNGError.shortPixelBuffer(needed: 40 * 4 * 30, available: 40 * 4 * 30 - 1)) {
            try PNGEncoder.encode(short)
        }
    }

    @Test("zlib levels outside 0...9 are refused", arguments: [-1, 10, Int.max])
    func badLevel(level: Int) {
        #expect(throws: PNGError.self) { try PNGEncoder.encode(frame, options: PNGOptions(zlibLevel: level, filter: .up)) }
    }
}
