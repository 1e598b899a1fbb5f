// DesktopFrame: a deterministic desktop-like picture (wallpaper, taskbar, windows of text) for PNG and frame benchmarks.
import Display

/// A linear congruential generator: the same frame every run.
public struct LCG {
    public init() {}
    var state: UInt32 = 12345
    public mutating func next() -> UInt32 { state = state &* 1_664_525 &+ 1_013_904_223; return state >> 8 }
}

/// Wallpaper gradient, a taskbar with icons, three windows with title bars and lines of text drawn from 64 glyphs,
/// one line every `lineSpacing` pixels (20: windows full of text; 60: sparse text).
public func desktopFrame(width: Int, height: Int, lineSpacing: Int = 20) -> Frame {
    let set = DisplaySet(modes: [DisplayMode(enabled: true, width: UInt32(width), height: UInt32(height))])
    set.enable(0, width: UInt32(width), height: UInt32(height))
    set.update(0, damage: Rect(x: 0, y: 0, width: UInt32(width), height: UInt32(height))) { p, stride in
        func fill(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ r: UInt8, _ g: UInt8, _ b: UInt8) {
            for y in max(0, y0)..<min(height, y1) {
                for x in max(0, x0)..<min(width, x1) {
                    let i = y * stride + x * 4
                    p[i] = b; p[i + 1] = g; p[i + 2] = r; p[i + 3] = 0
                }
            }
        }
        for y in 0..<height {
            for x in 0..<width {
                let i = y * stride + x * 4
                p[i] = UInt8(120 + y * 100 / height); p[i + 1] = UInt8(60 + x * 60 / width); p[i + 2] = 30; p[i + 3] = 0
            }
        }
        fill(0, height - 40, width, height, 40, 40, 48)
        for i in 0..<8 { fill(8 + i * 48, height - 36, 40 + i * 48, height - 4, 200, UInt8(100 + i * 15), 60) }
        var rng = LCG()
        for w in [(100, 80, 1100, 760), (700, 300, 1800, 950), (200, 500, 900, 1000)] {
            fill(w.0, w.1, w.2, w.3, 250, 250, 250)
            fill(w.0, w.1, w.2, w.1 + 30, 60, 90, 160)
            var ty = w.1 + 40
            while ty + 16 < w.3 {
                var tx = w.0 + 10
                let count = Int(rng.next()) % ((w.2 - w.0) / 8 - 4)
                for _ in 0..<count {
                    if rng.next() % 7 == 0 { tx += 8; continue }
                    let glyph = rng.next() % 64
                    for gy in 2..<14 {
                        for gx in 0..<7 where ((glyph &* 2_654_435_761 &+ UInt32(gy) &* 40503 &+ UInt32(gx) &* 977) >> 13) % 3 == 0 {
                            fill(tx + gx, ty + gy, tx + gx + 1, ty + gy + 1, 20, 20, 20)
                        }
                    }
                    tx += 8
                }
                ty += lineSpacing
            }
        }
    }
    return set.snapshot(0)!
}
