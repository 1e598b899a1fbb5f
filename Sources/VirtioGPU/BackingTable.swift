// BackingTable: a resource's attached guest pages as one linear byte space (cumulative offsets, binary search).
import GuestMemory

struct BackingTable {
    /// Guest ranges in backing order; none has length 0.
    let entries: [GuestRange]
    /// starts[i] is the backing offset of entries[i]; starts[0] == 0, strictly increasing.
    let starts: [UInt64]
    /// Sum of entry lengths (at most 2^32 * maxBackingEntries, so no UInt64 overflow).
    let totalLength: UInt64

    init(entries: [GuestRange]) {
        self.entries = entries
        var starts = [UInt64]()
        starts.reserveCapacity(entries.count)
        var total: UInt64 = 0
        for e in entries { starts.append(total); total += e.length }
        self.starts = starts
        totalLength = total
    }

    /// Index of the entry holding backing byte `offset` (offset < totalLength).
    func entryIndex(containing offset: UInt64) -> Int {
        var lo = 0, hi = entries.count - 1          // invariant: starts[lo] <= offset
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// GPU2D-5.2: re-checks, at transfer time, that every entry touched by backing bytes [offset, offset+length)
    /// is still readable guest memory (the memory table or IOMMU mappings may have changed since attach).
    func checkReadable(offset: UInt64, length: UInt64, dma: DMASpace) throws(GuestMemoryError) {
        guard length > 0 else { return }
        let first = entryIndex(containing: offset), last = entryIndex(containing: offset + (length - 1))
        for e in entries[first...last] { _ = try dma.resolve(e.address, length: e.length, access: .read) }
    }

    /// Copies backing bytes [offset, offset+out.count) into `out`. The caller has checked
    /// offset + out.count <= totalLength.
    func copy(from offset: UInt64, into out: UnsafeMutableRawBufferPointer, dma: DMASpace) throws(GuestMemoryError) {
        var done = 0
        var index = entryIndex(containing: offset)
        var within = offset - starts[index]
        while done < out.count {
            let e = entries[index]
            let n = Int(min(UInt64(out.count - done), e.length - within))
            try dma.read(at: e.address + within, into: UnsafeMutableRawBufferPointer(rebasing: out[done..<done + n]))
            done += n
            index += 1
            within = 0
        }
    }
}
