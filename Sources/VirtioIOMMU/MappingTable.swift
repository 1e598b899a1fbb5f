// MappingTable: one domain's mappings, disjoint and sorted by IOVA in an array; lookups are binary searches.
// Cost: MAP is a binary search plus one insertion (a memmove of the tail), UNMAP a binary search plus one removal,
// translation a binary search then a walk over the mappings it spans. Drivers map and unmap at the top of the table
// mostly, and tables stay in the thousands (IOMMULimits.maxMappings), so this is aimed at >= 1M MAP+UNMAP per second
// through the device model; a B-tree would only pay off for far larger tables. (No benchmark yet: Benchmarks/.)

struct IOMMUMapping: Equatable, Sendable {
    var range: IOVARange
    var phys: UInt64
    var flags: IOMMUMapFlags
}

struct MappingTable: Sendable {
    /// Invariant: sorted by `range.first`, pairwise disjoint (so `range.last` is sorted too).
    private(set) var entries: [IOMMUMapping] = []

    var count: Int { entries.count }

    /// The first index whose mapping ends at or after `address`; `count` if none.
    func firstIndex(endingAtOrAfter address: UInt64) -> Int {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if entries[mid].range.last < address { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    func mapping(containing address: UInt64) -> IOMMUMapping? {
        let i = firstIndex(endingAtOrAfter: address)
        guard i < entries.count, entries[i].range.first <= address else { return nil }
        return entries[i]
    }

    func firstOverlap(with range: IOVARange) -> IOMMUMapping? {
        let i = firstIndex(endingAtOrAfter: range.first)
        guard i < entries.count, entries[i].range.first <= range.last else { return nil }
        return entries[i]
    }

    mutating func insert(_ mapping: IOMMUMapping) {
        let i = firstIndex(endingAtOrAfter: mapping.range.first)
        precondition(i == entries.count || entries[i].range.first > mapping.range.last, "mapping overlaps")
        entries.insert(mapping, at: i)
    }

    enum UnmapPlan: Equatable {
        /// Indices of the mappings wholly inside the range (possibly empty).
        case remove(Range<Int>)
        /// A mapping the range covers only in part.
        case split(IOMMUMapping)
    }

    /// IOMMU-6.5: every mapping the range touches must lie inside it. Only the first and last touched mapping can
    /// stick out, since the mappings are disjoint and sorted.
    func plan(unmapping range: IOVARange) -> UnmapPlan {
        let lo = firstIndex(endingAtOrAfter: range.first)
        let hi = firstIndex(endingAtOrAfter: range.last)   // may be the last touched mapping, or beyond
        var end = hi
        if hi < entries.count, entries[hi].range.first <= range.last { end = hi + 1 }
        guard lo < end else { return .remove(lo..<lo) }
        if !range.contains(entries[lo].range) { return .split(entries[lo]) }
        if !range.contains(entries[end - 1].range) { return .split(entries[end - 1]) }
        return .remove(lo..<end)
    }

    /// Removes the planned mappings and returns them.
    mutating func remove(_ indices: Range<Int>) -> ArraySlice<IOMMUMapping> {
        let removed = entries[indices]
        entries.removeSubrange(indices)
        return removed
    }

    mutating func removeAll() { entries.removeAll() }
}
