// MappingTable: one domain's mappings, disjoint and sorted by IOVA, kept in chunks of at most `chunkCapacity`
// sorted entries (a one-level B+-tree). Why chunks: Linux's IOVA allocator hands out addresses top-down, so the
// short-lived mappings of a busy driver sit below the long-lived ones; in one flat sorted array every MAP and UNMAP
// would shift all of those (a 40 KB memmove with 1024 live mappings, which halved the MAP+UNMAP rate). Here a MAP or
// UNMAP shifts at most one chunk, and lookups are two binary searches. Benchmarks/iommu-bench measures it.

struct IOMMUMapping: Equatable, Sendable {
    var range: IOVARange
    var phys: UInt64
    var flags: IOMMUMapFlags
}

struct MappingTable: Sendable {
    /// A place in the table: a chunk and an entry in it. `end` is (chunks.count, 0).
    struct Position: Comparable, Sendable {
        var chunk: Int
        var offset: Int
        static func < (a: Position, b: Position) -> Bool { (a.chunk, a.offset) < (b.chunk, b.offset) }
    }

    /// A full chunk splits in two on insertion.
    static let chunkCapacity = 64
    /// Invariant: every chunk non-empty and sorted by `range.first`; all entries pairwise disjoint, and every entry
    /// of a chunk below every entry of the next (so `range.last` is sorted across chunks too).
    private var chunks: [[IOMMUMapping]] = []
    private(set) var count = 0

    var end: Position { Position(chunk: chunks.count, offset: 0) }
    subscript(p: Position) -> IOMMUMapping { chunks[p.chunk][p.offset] }

    func position(after p: Position) -> Position {
        p.offset + 1 < chunks[p.chunk].count ? Position(chunk: p.chunk, offset: p.offset + 1)
            : Position(chunk: p.chunk + 1, offset: 0)
    }

    /// Every mapping in order (for checks and diagnostics; copies).
    var entries: [IOMMUMapping] { chunks.flatMap { $0 } }

    /// The first mapping that ends at or after `address`; `end` if none.
    func firstPosition(endingAtOrAfter address: UInt64) -> Position {
        var lo = 0, hi = chunks.count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if chunks[mid][chunks[mid].count - 1].range.last < address { lo = mid + 1 } else { hi = mid }
        }
        guard lo < chunks.count else { return end }
        return chunks[lo].withUnsafeBufferPointer { c in
            var a = 0, b = c.count - 1          // c[b] ends at or after `address`
            while a < b {
                let mid = a + (b - a) / 2
                if c[mid].range.last < address { a = mid + 1 } else { b = mid }
            }
            return Position(chunk: lo, offset: a)
        }
    }

    func mapping(containing address: UInt64) -> IOMMUMapping? {
        let p = firstPosition(endingAtOrAfter: address)
        guard p < end, self[p].range.first <= address else { return nil }
        return self[p]
    }

    func firstOverlap(with range: IOVARange) -> IOMMUMapping? {
        let p = firstPosition(endingAtOrAfter: range.first)
        guard p < end, self[p].range.first <= range.last else { return nil }
        return self[p]
    }

    mutating func insert(_ mapping: IOMMUMapping) {
        var p = firstPosition(endingAtOrAfter: mapping.range.first)
        precondition(p == end || self[p].range.first > mapping.range.last, "mapping overlaps")
        if chunks.isEmpty {
            chunks.append([mapping])
        } else {
            // Past the last mapping: append to the last chunk.
            if p == end { p = Position(chunk: chunks.count - 1, offset: chunks[chunks.count - 1].count) }
            chunks[p.chunk].insert(mapping, at: p.offset)
            if chunks[p.chunk].count > Self.chunkCapacity {
                let upper = Array(chunks[p.chunk][(Self.chunkCapacity / 2)...])
                chunks[p.chunk].removeSubrange((Self.chunkCapacity / 2)...)
                chunks.insert(upper, at: p.chunk + 1)
            }
        }
        count += 1
    }

    enum UnmapPlan: Equatable {
        /// The mappings wholly inside the range: [from, to) (possibly empty).
        case remove(from: Position, to: Position)
        /// A mapping the range covers only in part.
        case split(IOMMUMapping)
    }

    /// IOMMU-6.5: every mapping the range touches must lie inside it. Only the first and last touched mapping can
    /// stick out, since the mappings are disjoint and sorted.
    func plan(unmapping range: IOVARange) -> UnmapPlan {
        let lo = firstPosition(endingAtOrAfter: range.first)
        let hi = firstPosition(endingAtOrAfter: range.last)   // the last touched mapping, or beyond it
        let hiTouched = hi < end && self[hi].range.first <= range.last
        let to = hiTouched ? position(after: hi) : hi
        guard lo < to else { return .remove(from: lo, to: lo) }
        if !range.contains(self[lo].range) { return .split(self[lo]) }
        let lastTouched = hiTouched ? hi : lastPosition(before: to)
        if !range.contains(self[lastTouched].range) { return .split(self[lastTouched]) }
        return .remove(from: lo, to: to)
    }

    private func lastPosition(before p: Position) -> Position {
        p.offset > 0 ? Position(chunk: p.chunk, offset: p.offset - 1)
            : Position(chunk: p.chunk - 1, offset: chunks[p.chunk - 1].count - 1)
    }

    /// Removes the mappings in [from, to) and returns them.
    mutating func remove(from: Position, to: Position) -> [IOMMUMapping] {
        guard from < to else { return [] }
        var removed: [IOMMUMapping] = []
        if from.chunk == to.chunk {
            removed = Array(chunks[from.chunk][from.offset..<to.offset])
            chunks[from.chunk].removeSubrange(from.offset..<to.offset)
            if chunks[from.chunk].isEmpty { chunks.remove(at: from.chunk) }
        } else {
            // Tail of the first chunk, whole chunks between, head of the last (if `to` is inside one).
            removed = Array(chunks[from.chunk][from.offset...])
            for c in (from.chunk + 1)..<to.chunk { removed += chunks[c] }
            if to.chunk < chunks.count, to.offset > 0 {
                removed += chunks[to.chunk][..<to.offset]
                chunks[to.chunk].removeSubrange(..<to.offset)
            }
            chunks[from.chunk].removeSubrange(from.offset...)
            chunks.removeSubrange((from.chunk + 1)..<to.chunk)
            if chunks[from.chunk].isEmpty { chunks.remove(at: from.chunk) }
        }
        count -= removed.count
        return removed
    }

    mutating func removeAll() { chunks.removeAll(); count = 0 }
}
