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

    /// GPU2D-5.2: translates and checks, at transfer time, every entry touched by backing bytes
    /// [offset, offset+length) (the memory table or IOMMU mappings may have changed since attach). The copy then
    /// reads exactly the guest-physical pieces checked here, so each entry is translated once per transfer.
    func resolve(offset: UInt64, length: UInt64, dma: DMASpace) throws(GuestMemoryError) -> ResolvedBacking {
        guard length > 0 else { return ResolvedBacking(pieces: [], starts: [], base: offset) }
        let first = entryIndex(containing: offset), last = entryIndex(containing: offset + (length - 1))
        var pieces: [GuestRange] = [], pieceStarts: [UInt64] = []
        pieces.reserveCapacity(last - first + 1)
        pieceStarts.reserveCapacity(last - first + 1)
        for i in first...last {
            var at = starts[i]
            for r in try dma.resolve(entries[i].address, length: entries[i].length, access: .read) {
                pieces.append(r)
                pieceStarts.append(at)
                at += r.length
            }
        }
        return ResolvedBacking(pieces: pieces, starts: pieceStarts, base: offset)
    }
}

/// Guest-physical pieces of part of a backing, in backing order; `starts[i]` is the backing offset of `pieces[i]`.
struct ResolvedBacking {
    let pieces: [GuestRange]
    let starts: [UInt64]
    /// The first backing byte resolved.
    let base: UInt64

    /// Copies backing bytes [offset, offset+out.count) into `out`; the range lies inside what was resolved.
    func copy(from offset: UInt64, into out: UnsafeMutableRawBufferPointer, memory: GuestMemory) throws(GuestMemoryError) {
        guard !out.isEmpty else { return }
        var lo = 0, hi = starts.count - 1          // the last piece starting at or before `offset`
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        var done = 0, index = lo, within = offset - starts[lo]
        while done < out.count {
            let piece = pieces[index]
            let n = Int(min(UInt64(out.count - done), piece.length - within))
            try memory.read(at: piece.address + within, into: UnsafeMutableRawBufferPointer(rebasing: out[done..<done + n]))
            done += n
            index += 1
            within = 0
        }
    }
}
