// Rect: the one rectangle type; every containment check from outside goes through `isInside`.

public struct Rect: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var x: UInt32
    public var y: UInt32
    public var width: UInt32
    public var height: UInt32
    public init(x: UInt32, y: UInt32, width: UInt32, height: UInt32) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }
    public var isEmpty: Bool { width == 0 || height == 0 }
    public var description: String { "\(width)x\(height)+\(x)+\(y)" }

    /// True when the whole rectangle lies inside a width x height area. Compares by subtraction, so huge
    /// fields from a guest cannot wrap (x + width is never computed in 32 bits).
    public func isInside(width areaWidth: UInt32, height areaHeight: UInt32) -> Bool {
        x <= areaWidth && width <= areaWidth - x && y <= areaHeight && height <= areaHeight - y
    }

    /// The smallest rectangle holding both (empty rects are ignored).
    public func union(_ other: Rect) -> Rect {
        if isEmpty { return other }
        if other.isEmpty { return self }
        let x0 = min(x, other.x), y0 = min(y, other.y)
        let x1 = max(UInt64(x) + UInt64(width), UInt64(other.x) + UInt64(other.width))
        let y1 = max(UInt64(y) + UInt64(height), UInt64(other.y) + UInt64(other.height))
        return Rect(x: x0, y: y0, width: UInt32(clamping: x1 - UInt64(x0)), height: UInt32(clamping: y1 - UInt64(y0)))
    }

    /// The overlap with a width x height area at the origin (may be empty).
    public func clipped(toWidth w: UInt32, height h: UInt32) -> Rect {
        guard x < w, y < h else { return Rect(x: 0, y: 0, width: 0, height: 0) }
        return Rect(x: x, y: y, width: min(width, w - x), height: min(height, h - y))
    }
}
