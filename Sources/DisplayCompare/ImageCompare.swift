// ImageCompare: screen against reference with masks and a tolerance, the verdict, and a diff picture.
import Display

/// When two pixels count as the same, and how many differing pixels still make a match.
public struct Tolerance: Sendable, Equatable {
    /// Largest absolute difference per channel (R, G, B) for a pixel to count as equal; 0...255.
    public var channelDelta: Int
    /// At most this many differing pixels (nil: no count limit from this field).
    public var maxDifferingPixels: Int?
    /// At most this fraction (0...1) of the compared pixels may differ (nil: no limit from this field).
    public var maxDifferingFraction: Double?

    public init(channelDelta: Int = 0, maxDifferingPixels: Int? = nil, maxDifferingFraction: Double? = nil) {
        self.channelDelta = channelDelta
        self.maxDifferingPixels = maxDifferingPixels
        self.maxDifferingFraction = maxDifferingFraction
    }
    public static let exact = Tolerance()

    /// Differing pixels allowed out of `compared`: the smaller of the two limits given, 0 when none is.
    public func allowedDifferences(outOf compared: Int) -> Int {
        var allowed: Int?
        if let n = maxDifferingPixels { allowed = max(0, n) }
        if let f = maxDifferingFraction {
            let byFraction = Int((Double(compared) * min(max(f, 0), 1)).rounded(.down))
            allowed = min(allowed ?? byFraction, byFraction)
        }
        return allowed ?? 0
    }

    public var isValid: Bool {
        (0...255).contains(channelDelta) && (maxDifferingPixels ?? 0) >= 0
            && (maxDifferingFraction.map { $0.isFinite && (0...1).contains($0) } ?? true)
    }
}

public enum CompareError: Error, Equatable, Sendable, CustomStringConvertible {
    case sizeMismatch(screenWidth: Int, screenHeight: Int, referenceWidth: Int, referenceHeight: Int)
    case maskOutside(Rect, width: Int, height: Int)
    case areaOutside(Rect, width: Int, height: Int)
    case needleLargerThanArea(needleWidth: Int, needleHeight: Int, area: Rect)
    case emptyImage
    case invalidTolerance
    case searchTooExpensive(budget: Int)

    public var description: String {
        switch self {
        case .sizeMismatch(let sw, let sh, let rw, let rh):
            "reference is \(rw)x\(rh) but the screen (or region) is \(sw)x\(sh)"
        case .maskOutside(let r, let w, let h): "mask \(r.x),\(r.y),\(r.width),\(r.height) is not inside the \(w)x\(h) image"
        case .areaOutside(let r, let w, let h): "area \(r.x),\(r.y),\(r.width),\(r.height) is not inside the \(w)x\(h) screen"
        case .needleLargerThanArea(let nw, let nh, let a): "needle \(nw)x\(nh) does not fit in the \(a.width)x\(a.height) search area"
        case .emptyImage: "image has no pixels"
        case .invalidTolerance: "tolerance out of range (channel delta 0...255, pixel count >= 0, fraction 0...1)"
        case .searchTooExpensive(let budget):
            "search would compare more than \(budget) pixels per frame; give a smaller area, a smaller needle or a stricter tolerance"
        }
    }
}

public struct CompareResult: Sendable, Equatable {
    public var match: Bool
    /// Pixels outside every mask whose R, G or B differs by more than the channel delta.
    public var differingPixels: Int
    /// Pixels that took part (outside masks, opaque in the reference).
    public var comparedPixels: Int
    public var allowedDifferingPixels: Int
    /// The largest channel difference seen over compared pixels.
    public var maxChannelDelta: Int
    /// The smallest rectangle holding every differing pixel; nil when none differs.
    public var differenceBox: Rect?
}

public enum ImageCompare {
    /// Compares `screen` with `reference` (same size). Pixels inside any mask, and pixels the reference marks fully
    /// transparent (alpha 0), are ignored. Masks must lie inside the image.
    public static func compare(_ screen: PixelImage, _ reference: PixelImage, masks: [Rect] = [],
                               tolerance: Tolerance = .exact) throws(CompareError) -> CompareResult {
        let (result, _) = try run(screen, reference, masks: masks, tolerance: tolerance, wantDiff: false)
        return result
    }

    /// The comparison and a diff picture of the screen's size: differing pixels red, masked or ignored pixels
    /// dark blue, equal pixels a faded grey copy of the screen.
    public static func compareWithDiff(_ screen: PixelImage, _ reference: PixelImage, masks: [Rect] = [],
                                       tolerance: Tolerance = .exact) throws(CompareError) -> (CompareResult, PixelImage) {
        let (result, diff) = try run(screen, reference, masks: masks, tolerance: tolerance, wantDiff: true)
        return (result, diff!)
    }

    /// A per-pixel "ignored" map from the masks (true: skip), after checking each mask lies inside.
    static func maskMap(_ masks: [Rect], width: Int, height: Int) throws(CompareError) -> [Bool]? {
        guard !masks.isEmpty else { return nil }
        var map = [Bool](repeating: false, count: width * height)
        for m in masks {
            guard m.isInside(width: UInt32(width), height: UInt32(height)) else {
                throw .maskOutside(m, width: width, height: height)
            }
            for y in Int(m.y) ..< Int(m.y) + Int(m.height) {
                for x in Int(m.x) ..< Int(m.x) + Int(m.width) { map[y * width + x] = true }
            }
        }
        return map
    }

    private static func run(_ screen: PixelImage, _ reference: PixelImage, masks: [Rect], tolerance: Tolerance,
                            wantDiff: Bool) throws(CompareError) -> (CompareResult, PixelImage?) {
        guard tolerance.isValid else { throw .invalidTolerance }
        guard screen.width == reference.width, screen.height == reference.height else {
            throw .sizeMismatch(screenWidth: screen.width, screenHeight: screen.height,
                                referenceWidth: reference.width, referenceHeight: reference.height)
        }
        guard screen.pixelCount > 0 else { throw .emptyImage }
        let ignored = try maskMap(masks, width: screen.width, height: screen.height)
        let w = screen.width, h = screen.height, delta = tolerance.channelDelta
        var differing = 0, compared = 0, maxDelta = 0
        var minX = Int.max, minY = Int.max, maxX = -1, maxY = -1
        var diff: [UInt8] = wantDiff ? [UInt8](repeating: 255, count: w * h * 4) : []
        screen.rgba.withUnsafeBufferPointer { a in
            reference.rgba.withUnsafeBufferPointer { b in
                for y in 0..<h {
                    for x in 0..<w {
                        let p = y * w + x, i = p * 4
                        if ignored?[p] == true || b[i + 3] == 0 {
                            if wantDiff { diff[i] = 0; diff[i + 1] = 0; diff[i + 2] = 96 }
                            continue
                        }
                        compared += 1
                        let d = max(abs(Int(a[i]) - Int(b[i])), abs(Int(a[i + 1]) - Int(b[i + 1])),
                                    abs(Int(a[i + 2]) - Int(b[i + 2])))
                        if d > maxDelta { maxDelta = d }
                        if d > delta {
                            differing += 1
                            minX = min(minX, x); maxX = max(maxX, x); minY = min(minY, y); maxY = max(maxY, y)
                            if wantDiff { diff[i] = 255; diff[i + 1] = 0; diff[i + 2] = 0 }
                        } else if wantDiff {
                            let r = Int(a[i]) * 3, g = Int(a[i + 1]) * 6, b = Int(a[i + 2])
                            let grey = UInt8(truncatingIfNeeded: (r + g + b) / 30 + 160)
                            diff[i] = grey; diff[i + 1] = grey; diff[i + 2] = grey
                        }
                    }
                }
            }
        }
        let allowed = tolerance.allowedDifferences(outOf: compared)
        let box = maxX < 0 ? nil : Rect(x: UInt32(minX), y: UInt32(minY), width: UInt32(maxX - minX + 1),
                                        height: UInt32(maxY - minY + 1))
        let result = CompareResult(match: differing <= allowed, differingPixels: differing, comparedPixels: compared,
                                   allowedDifferingPixels: allowed, maxChannelDelta: maxDelta, differenceBox: box)
        return (result, wantDiff ? PixelImage(width: w, height: h, rgba: diff) : nil)
    }
}
