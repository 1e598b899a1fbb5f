// ImageCompare, TemplateSearch and the PixelImage conversions, on small synthetic pictures.
import Display
import DisplayCompare
import Testing

/// A w x h picture whose pixel (x, y) is (x*7, y*11, (x^y)*3) as RGBA, opaque.
func pattern(_ w: Int, _ h: Int, seed: Int = 0) -> PixelImage {
    var rgba = [UInt8](repeating: 255, count: w * h * 4)
    for y in 0..<h {
        for x in 0..<w {
            let i = (y * w + x) * 4
            rgba[i] = UInt8(truncatingIfNeeded: x * 7 + seed); rgba[i + 1] = UInt8(truncatingIfNeeded: y * 11)
            rgba[i + 2] = UInt8(truncatingIfNeeded: (x ^ y) * 3)
        }
    }
    return PixelImage(width: w, height: h, rgba: rgba)
}

func setPixel(_ image: inout PixelImage, _ x: Int, _ y: Int, _ r: UInt8, _ g: UInt8, _ b: UInt8, _ a: UInt8 = 255) {
    let i = (y * image.width + x) * 4
    image.rgba[i] = r; image.rgba[i + 1] = g; image.rgba[i + 2] = b; image.rgba[i + 3] = a
}

@Suite("ImageCompare")
struct ImageCompareTests {
    @Test("identical pictures match with nothing differing")
    func identical() throws {
        let r = try ImageCompare.compare(pattern(40, 30), pattern(40, 30))
        #expect(r.match && r.differingPixels == 0 && r.comparedPixels == 1200 && r.differenceBox == nil)
    }

    @Test("differing pixels are counted and boxed; the channel delta forgives small changes")
    func differences() throws {
        var screen = pattern(40, 30)
        setPixel(&screen, 3, 4, 0, 0, 0)
        setPixel(&screen, 20, 25, 0, 0, 0)
        var near = pattern(40, 30)
        let i = (10 * 40 + 10) * 4
        near.rgba[i] = near.rgba[i] &+ 3
        let ref = pattern(40, 30)
        let r = try ImageCompare.compare(screen, ref)
        #expect(!r.match && r.differingPixels == 2)
        #expect(r.differenceBox == Rect(x: 3, y: 4, width: 18, height: 22))
        #expect(try ImageCompare.compare(near, ref).differingPixels == 1)
        #expect(try ImageCompare.compare(near, ref, tolerance: Tolerance(channelDelta: 3)).match)
        #expect(try ImageCompare.compare(screen, ref, tolerance: Tolerance(maxDifferingPixels: 2)).match)
        #expect(try !ImageCompare.compare(screen, ref, tolerance: Tolerance(maxDifferingPixels: 1)).match)
        // 2 of 1200 = 0.17%
        #expect(try ImageCompare.compare(screen, ref, tolerance: Tolerance(maxDifferingFraction: 0.002)).match)
        #expect(try !ImageCompare.compare(screen, ref, tolerance: Tolerance(maxDifferingFraction: 0.001)).match)
    }

    @Test("masked and transparent reference pixels are ignored")
    func masks() throws {
        var screen = pattern(40, 30)
        setPixel(&screen, 3, 4, 0, 0, 0)
        setPixel(&screen, 20, 25, 0, 0, 0)
        var ref = pattern(40, 30)
        setPixel(&ref, 20, 25, 9, 9, 9, 0)
        let r = try ImageCompare.compare(screen, ref, masks: [Rect(x: 0, y: 0, width: 5, height: 5)])
        #expect(r.match && r.comparedPixels == 1200 - 25 - 1)
    }

    @Test("masks outside the image, wrong sizes and bad tolerances are errors")
    func badInput() {
        let a = pattern(40, 30)
        #expect(throws: CompareError.maskOutside(Rect(x: 35, y: 0, width: 6, height: 1), width: 40, height: 30)) {
            try ImageCompare.compare(a, a, masks: [Rect(x: 35, y: 0, width: 6, height: 1)])
        }
        #expect(throws: CompareError.self) {
            try ImageCompare.compare(a, a, masks: [Rect(x: UInt32.max, y: 0, width: 2, height: 1)])
        }
        #expect(throws: CompareError.sizeMismatch(screenWidth: 40, screenHeight: 30, referenceWidth: 41, referenceHeight: 30)) {
            try ImageCompare.compare(a, pattern(41, 30))
        }
        #expect(throws: CompareError.invalidTolerance) { try ImageCompare.compare(a, a, tolerance: Tolerance(channelDelta: 256)) }
        #expect(throws: CompareError.invalidTolerance) { try ImageCompare.compare(a, a, tolerance: Tolerance(maxDifferingFraction: .nan)) }
    }

    @Test("the diff picture marks differing pixels red and masked ones blue")
    func diffImage() throws {
        var screen = pattern(8, 8)
        setPixel(&screen, 5, 6, 0, 0, 0)
        let (r, diff) = try ImageCompare.compareWithDiff(screen, pattern(8, 8), masks: [Rect(x: 0, y: 0, width: 1, height: 1)])
        #expect(r.differingPixels == 1)
        #expect(diff.width == 8 && diff.height == 8)
        #expect(Array(diff.rgba[(6 * 8 + 5) * 4 ..< (6 * 8 + 5) * 4 + 4]) == [255, 0, 0, 255])
        #expect(Array(diff.rgba[0..<4]) == [0, 0, 96, 255])
    }
}

@Suite("TemplateSearch")
struct TemplateSearchTests {
    @Test("finds a crop of the screen where it came from, and only inside the area")
    func findsCrop() throws {
        let screen = pattern(120, 90)
        let needle = try #require(screen.cropped(Rect(x: 50, y: 40, width: 12, height: 9)))
        let m = try #require(try TemplateSearch.find(needle, in: screen))
        #expect(m.x == 50 && m.y == 40 && m.width == 12 && m.height == 9)
        #expect(try TemplateSearch.find(needle, in: screen, area: Rect(x: 0, y: 0, width: 60, height: 48)) == nil)
        let inArea = try TemplateSearch.find(needle, in: screen, area: Rect(x: 40, y: 30, width: 30, height: 30))
        #expect(inArea?.x == 50 && inArea?.y == 40)
    }

    @Test("tolerance lets a slightly different needle match; a different one does not")
    func tolerance() throws {
        let screen = pattern(64, 48)
        var needle = try #require(screen.cropped(Rect(x: 10, y: 10, width: 8, height: 8)))
        setPixel(&needle, 2, 2, 1, 2, 3)
        #expect(try TemplateSearch.find(needle, in: screen) == nil)
        let m = try TemplateSearch.find(needle, in: screen, tolerance: Tolerance(maxDifferingPixels: 1))
        #expect(m?.x == 10 && m?.y == 10 && m?.differingPixels == 1)
        #expect(try TemplateSearch.find(pattern(8, 8, seed: 100), in: screen) == nil)
    }

    @Test("a needle on a plain background is found without comparing every position fully")
    func plainBackground() throws {
        var screen = PixelImage(width: 300, height: 200, rgba: [UInt8](repeating: 255, count: 300 * 200 * 4))
        setPixel(&screen, 250, 150, 0, 0, 0)
        let needle = try #require(screen.cropped(Rect(x: 230, y: 130, width: 40, height: 40)))
        let m = try TemplateSearch.find(needle, in: screen, budget: 2_000_000)
        #expect(m?.x == 230 && m?.y == 130)
    }

    @Test("needles bigger than the area, areas outside the screen and empty needles are errors")
    func badInput() {
        let screen = pattern(20, 20)
        #expect(throws: CompareError.self) { try TemplateSearch.find(pattern(21, 2), in: screen) }
        #expect(throws: CompareError.self) {
            try TemplateSearch.find(pattern(2, 2), in: screen, area: Rect(x: 10, y: 10, width: 11, height: 2))
        }
        #expect(throws: CompareError.emptyImage) { try TemplateSearch.find(pattern(0, 0), in: screen) }
    }
}

@Suite("PixelImage conversions")
struct PixelImageTests {
    @Test("BGRX frames become RGBA; PPM carries RGB; crops and frames round-trip")
    func conversions() throws {
        let frame = Frame(width: 2, height: 1, pixels: [1, 2, 3, 0, 4, 5, 6, 0], frameCounter: 1)
        let image = try #require(PixelImage(frame: frame))
        #expect(image.rgba == [3, 2, 1, 255, 6, 5, 4, 255])
        #expect(image.ppm == Array("P6\n2 1\n255\n".utf8) + [3, 2, 1, 6, 5, 4])
        #expect(PixelImage(frame: frame, region: Rect(x: 1, y: 0, width: 2, height: 1)) == nil)
        #expect(PixelImage(frame: frame, region: Rect(x: 1, y: 0, width: 1, height: 1))?.rgba == [6, 5, 4, 255])
        #expect(image.frame().pixels == [1, 2, 3, 255, 4, 5, 6, 255])
    }

    @Test("the cursor is blended at position minus hotspot, clipped, only on its scanout")
    func cursor() {
        let frame = Frame(width: 4, height: 4, pixels: [UInt8](repeating: 0, count: 64), frameCounter: 1)
        var cursor = CursorState()
        cursor.visible = true
        cursor.x = 2; cursor.y = 1; cursor.hotX = 1; cursor.hotY = 0
        var img = [UInt8](repeating: 0, count: 64 * 64 * 4)
        img[0] = 200; img[1] = 100; img[2] = 50; img[3] = 255        // (0,0) opaque
        img[4] = 200; img[7] = 128                                    // (1,0) half
        cursor.image = img
        let out = frame.compositing(cursor: cursor, scanout: 0)
        let at = (1 * 4 + 1) * 4
        #expect(Array(out.pixels[at..<at + 3]) == [200, 100, 50])
        #expect(out.pixels[at + 4] == 100)
        #expect(frame.compositing(cursor: cursor, scanout: 1).pixels == frame.pixels)
        cursor.x = 100
        #expect(frame.compositing(cursor: cursor, scanout: 0).pixels == frame.pixels)
    }
}
