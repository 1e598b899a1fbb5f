// TemplateSearch: where a needle picture (a button, a prompt) appears on screen, within a tolerance.
import Display

public struct TemplateMatch: Sendable, Equatable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int
    public var differingPixels: Int
}

public enum TemplateSearch {
    /// Pixel comparisons one search may make before it gives up with `.searchTooExpensive` (a bound on CPU per
    /// frame: a 1080p screen with a 64x64 needle that rarely matches past its first pixels is far below it).
    public static let defaultBudget = 400_000_000

    /// The first position, scanning rows top to bottom, where `needle` matches `screen` inside `area` (default: the
    /// whole screen). Needle pixels with alpha 0 are ignored. A position matches when at most the tolerance's
    /// allowed count of the needle's opaque pixels differ by more than the channel delta.
    public static func find(_ needle: PixelImage, in screen: PixelImage, area: Rect? = nil,
                            tolerance: Tolerance = .exact, budget: Int = defaultBudget)
        throws(CompareError) -> TemplateMatch?
    {
        guard tolerance.isValid else { throw .invalidTolerance }
        guard needle.pixelCount > 0, screen.pixelCount > 0 else { throw .emptyImage }
        let area = area ?? screen.bounds
        guard area.isInside(width: UInt32(screen.width), height: UInt32(screen.height)) else {
            throw .areaOutside(area, width: screen.width, height: screen.height)
        }
        guard needle.width <= Int(area.width), needle.height <= Int(area.height) else {
            throw .needleLargerThanArea(needleWidth: needle.width, needleHeight: needle.height, area: area)
        }
        // The needle's opaque pixels, rarest colour first: a rare pixel rules a position out soonest, so a needle
        // whose top rows are plain background does not compare those rows at every position.
        var counts: [UInt32: Int] = [:]
        var opaque: [Int] = []
        needle.rgba.withUnsafeBufferPointer { n in
            for p in 0..<needle.pixelCount where n[p * 4 + 3] != 0 {
                opaque.append(p)
                counts[key(n, p * 4), default: 0] += 1
            }
        }
        guard !opaque.isEmpty else {   // a fully transparent needle matches at the area's corner
            return TemplateMatch(x: Int(area.x), y: Int(area.y), width: needle.width, height: needle.height,
                                 differingPixels: 0)
        }
        let order: [Int] = needle.rgba.withUnsafeBufferPointer { n in
            let probes = opaque.sorted { counts[key(n, $0 * 4)]! < counts[key(n, $1 * 4)]! }.prefix(16)
            return Array(probes) + opaque
        }
        let probeCount = min(16, opaque.count)
        let allowed = tolerance.allowedDifferences(outOf: opaque.count)
        let delta = tolerance.channelDelta
        let nw = needle.width, sw = screen.width
        var work = 0
        for y in Int(area.y) ... Int(area.y) + Int(area.height) - needle.height {
            for x in Int(area.x) ... Int(area.x) + Int(area.width) - nw {
                var differing = 0
                var rejected = false
                // Probes first (they are checked again in the full pass only if the position survives).
                needle.rgba.withUnsafeBufferPointer { n in
                    screen.rgba.withUnsafeBufferPointer { s in
                        var probeDiffs = 0
                        for k in 0..<order.count {
                            if k == probeCount { probeDiffs = differing; differing = 0 }
                            let p = order[k]
                            let ni = p * 4
                            let si = ((y + p / nw) * sw + x + p % nw) * 4
                            work += 1
                            if abs(Int(n[ni]) - Int(s[si])) > delta || abs(Int(n[ni + 1]) - Int(s[si + 1])) > delta
                                || abs(Int(n[ni + 2]) - Int(s[si + 2])) > delta
                            {
                                differing += 1
                                if (k < probeCount ? differing : max(differing, probeDiffs)) > allowed {
                                    rejected = true
                                    return
                                }
                            }
                        }
                    }
                }
                if !rejected { return TemplateMatch(x: x, y: y, width: nw, height: needle.height, differingPixels: differing) }
                if work > budget { throw .searchTooExpensive(budget: budget) }
            }
        }
        return nil
    }

    private static func key(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> UInt32 {
        UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
    }
}
