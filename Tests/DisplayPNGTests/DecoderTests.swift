// The decoder on input it did not make: other colour types and depths, and hostile input (truncated, garbage,
// corrupt streams, decompression bombs). It must return a typed error and never trap.
import DisplayPNG
import Testing

@Suite("PNG decoder")
struct DecoderTests {
    @Test("grey 8-bit, grey+alpha, 16-bit RGB, palette with tRNS and 1-bit grey all become 8-bit RGBA")
    func colourTypes() throws {
        let grey = PNGWriter.png(width: 2, height: 1, bitDepth: 8, colorType: 0, rows: [[0x10, 0xF0]])
        #expect(try PNGDecoder.decodeRGBA(grey, maxPixels: 2).rgba == [0x10, 0x10, 0x10, 255, 0xF0, 0xF0, 0xF0, 255])

        let greyAlpha = PNGWriter.png(width: 1, height: 1, bitDepth: 8, colorType: 4, rows: [[0x33, 0x80]])
        #expect(try PNGDecoder.decodeRGBA(greyAlpha, maxPixels: 1).rgba == [0x33, 0x33, 0x33, 0x80])

        let rgb16 = PNGWriter.png(width: 1, height: 1, bitDepth: 16, colorType: 2, rows: [[0xAB, 0xCD, 0x12, 0x34, 0xFF, 0x00]])
        #expect(try PNGDecoder.decodeRGBA(rgb16, maxPixels: 1).rgba == [0xAB, 0x12, 0xFF, 255])

        let palette = PNGWriter.png(width: 3, height: 1, bitDepth: 8, colorType: 3, rows: [[0, 1, 2]], extraChunks: [
            PNGWriter.chunk("PLTE", [255, 0, 0, 0, 255, 0, 0, 0, 255]), PNGWriter.chunk("tRNS", [0, 128]),
        ])
        #expect(try PNGDecoder.decodeRGBA(palette, maxPixels: 3).rgba == [255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 255])

        let oneBit = PNGWriter.png(width: 3, height: 1, bitDepth: 1, colorType: 0, rows: [[0b1010_0000]])
        #expect(try PNGDecoder.decodeRGBA(oneBit, maxPixels: 3).rgba == [255, 255, 255, 255, 0, 0, 0, 255, 255, 255, 255, 255])
    }

    @Test("a header claiming 100000x100000 is refused from IHDR alone")
    func hugeDimensions() {
        let bomb = PNGWriter.signature + PNGWriter.ihdr(width: 100_000, height: 100_000, bitDepth: 8, colorType: 2)
            + PNGWriter.chunk("IDAT", PNGWriter.zlibStored([0])) + PNGWriter.chunk("IEND", [])
        #expect(throws: PNGError.tooLarge(width: 100_000, height: 100_000, maxPixels: 4096 * 4096)) {
            try PNGDecoder.decodeRGBA(bomb, maxPixels: 4096 * 4096)
        }
    }

    @Test("the pixel limit is inclusive")
    func limitBoundary() throws {
        let png = PNGWriter.png(width: 3, height: 2, bitDepth: 8, colorType: 0, rows: [[1, 2, 3], [4, 5, 6]])
        #expect(try PNGDecoder.decodeRGBA(png, maxPixels: 6).width == 3)
        #expect(throws: PNGError.tooLarge(width: 3, height: 2, maxPixels: 5)) { try PNGDecoder.decodeRGBA(png, maxPixels: 5) }
        #expect(throws: PNGError.tooLarge(width: 3, height: 2, maxPixels: -1)) { try PNGDecoder.decodeRGBA(png, maxPixels: -1) }
    }

    @Test("dimensions over libpng's own limits and zero dimensions are libpng errors", arguments: [
        (UInt32(0), UInt32(1)), (UInt32(1), UInt32(0)), (UInt32(0x8000_0000), UInt32(1)), (UInt32.max, UInt32.max),
    ])
    func invalidDimensions(width: UInt32, height: UInt32) {
        let png = PNGWriter.signature + PNGWriter.ihdr(width: width, height: height, bitDepth: 8, colorType: 2)
            + PNGWriter.chunk("IEND", [])
        #expect(throws: PNGError.self) { try PNGDecoder.decodeRGBA(png, maxPixels: Int.max) }
    }

    @Test("every truncation of a valid PNG is a libpng error")
    func truncated() throws {
        let frame = TestImages.noise(width: 20, height: 9, seed: 3)
        let png = try PNGEncoder.encode(frame)
        for length in 0..<png.count {
            do {
                _ = try PNGDecoder.decodeRGBA(Array(png.prefix(length)), maxPixels: 1 << 20)
                Issue.record("a \(length)-byte prefix of \(png.count) decoded")
            } catch {
                guard case .libpng(let message) = error else { Issue.record("\(error)"); continue }
                #expect(!message.isEmpty)
            }
        }
    }

    @Test("garbage, an empty array and a bare signature are libpng errors")
    func garbage() {
        #expect(throws: PNGError.libpng("not a PNG signature")) { try PNGDecoder.decodeRGBA([], maxPixels: 100) }
        #expect(throws: PNGError.libpng("not a PNG signature")) {
            try PNGDecoder.decodeRGBA(Array("GIF89a garbage".utf8), maxPixels: 100)
        }
        #expect(throws: PNGError.self) { try PNGDecoder.decodeRGBA(PNGWriter.signature, maxPixels: 100) }
        let badCRC = PNGWriter.signature + PNGWriter.ihdr(width: 1, height: 1, bitDepth: 8, colorType: 2).map { $0 ^ 1 }
        #expect(throws: PNGError.self) { try PNGDecoder.decodeRGBA(badCRC, maxPixels: 100) }
    }

    @Test("random bytes after the signature never trap")
    func randomBytes() {
        var rng = SeededRandom(state: 42)
        for _ in 0..<500 {
            let length = Int.random(in: 0..<200, using: &rng)
            let bytes = PNGWriter.signature + (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(throws: PNGError.self) { try PNGDecoder.decodeRGBA(bytes, maxPixels: 1 << 16) }
        }
    }

    @Test("corrupt chunk payloads with valid CRCs never trap, and what decodes has the claimed size")
    func corruptPayloads() throws {
        var rng = SeededRandom(state: 9)
        let frame = TestImages.ramps(width: 31, height: 17)
        let png = try PNGEncoder.encode(frame, options: PNGOptions(zlibLevel: 6, filter: .adaptive))
        for _ in 0..<400 {
            var bytes = png
            // Flip bytes after the signature, then refresh every chunk's CRC so libpng parses what is inside.
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 8..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            }
            fixCRCs(&bytes)
            do {
                let image = try PNGDecoder.decodeRGBA(bytes, maxPixels: 1 << 16)
                #expect(image.rgba.count == Int(image.width) * Int(image.height) * 4)
            } catch {
                _ = error as PNGError   // typed: any failure is a PNGError
            }
        }
    }

    /// Recomputes the CRC of each chunk whose length field still fits in the data.
    private func fixCRCs(_ bytes: inout [UInt8]) {
        var offset = 8
        while bytes.count - offset >= 12 {
            let length = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8
                | Int(bytes[offset + 3])
            guard length <= bytes.count - offset - 12 else { return }
            let crc = PNGWriter.crc32(Array(bytes[offset + 4 ..< offset + 8 + length]))
            bytes.replaceSubrange(offset + 8 + length ..< offset + 12 + length, with: PNGWriter.bigEndian(crc))
            offset += 12 + length
        }
    }
}
