// DamageRegion: the damage a scanout's mirror has not taken yet, as up to four rectangles kept inline, so the GPU's
// flush path adds to it under the DisplaySet lock without allocating. Two small changes far apart (a clock in one
// corner, typing in another) stay two rectangles instead of one box over the whole screen between them.

public struct DamageRegion: Sendable, Equatable {
    public static let capacity = 4
    private var r0 = Rect.empty, r1 = Rect.empty, r2 = Rect.empty, r3 = Rect.empty
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    public subscript(_ i: Int) -> Rect {
        switch i {
        case 0: r0
        case 1: r1
        case 2: r2
        default: r3
        }
    }

    private mutating func set(_ i: Int, _ rect: Rect) {
        switch i {
        case 0: r0 = rect
        case 1: r1 = rect
        case 2: r2 = rect
        default: r3 = rect
        }
    }

    private mutating func remove(at i: Int) {
        for j in i..<(count - 1) { set(j, self[j + 1]) }
        count -= 1
        set(count, .empty)
    }

    /// Adds `rect`: merged with every rectangle it overlaps or touches; when four are kept already, merged with the
    /// one whose union adds the least area.
    public mutating func add(_ rect: Rect) {
        guard !rect.isEmpty else { return }
        var merged = rect
        var i = 0
        while i < count {
            if self[i].touches(merged) {
                merged = merged.union(self[i])
                remove(at: i)
                i = 0
            } else {
                i += 1
            }
        }
        if count < Self.capacity {
            set(count, merged)
            count += 1
            return
        }
        var best = 0
        var bestGrowth = UInt64.max
        for j in 0..<count {
            let growth = self[j].union(merged).area - self[j].area
            if growth < bestGrowth { best = j; bestGrowth = growth }
        }
        let union = self[best].union(merged)
        remove(at: best)
        add(union)
    }

    public mutating func removeAll() { self = DamageRegion() }

    /// The rectangles, clipped to a width x height picture (empty ones dropped).
    public func rects(clippedToWidth width: UInt32, height: UInt32) -> [Rect] {
        (0..<count).map { self[$0].clipped(toWidth: width, height: height) }.filter { !$0.isEmpty }
    }
}

extension Rect {
    static let empty = Rect(x: 0, y: 0, width: 0, height: 0)

    var area: UInt64 { UInt64(width) * UInt64(height) }

    /// Overlapping or sharing an edge (so their union covers nothing that neither does, along that edge).
    func touches(_ other: Rect) -> Bool {
        let x1 = UInt64(x) + UInt64(width), y1 = UInt64(y) + UInt64(height)
        let ox1 = UInt64(other.x) + UInt64(other.width), oy1 = UInt64(other.y) + UInt64(other.height)
        return UInt64(x) <= ox1 && UInt64(other.x) <= x1 && UInt64(y) <= oy1 && UInt64(other.y) <= y1
    }
}
