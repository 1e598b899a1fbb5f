// FaultQueue: fault reports waiting for the eventq, bounded; what does not fit is counted, never lost silently.

struct FaultQueue: Sendable {
    let capacity: Int
    /// Oldest first. Invariant: `pending.count - head <= capacity`.
    private var pending: [IOMMUFault] = []
    private var head = 0
    private(set) var dropped: UInt64 = 0

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    var count: Int { pending.count - head }

    /// Queues `fault` unless `capacity` are waiting; then it is counted in `dropped` (the first faults of a flood
    /// are the ones that name its cause, so the newest is the one dropped).
    @discardableResult
    mutating func record(_ fault: IOMMUFault) -> Bool {
        guard count < capacity else { dropped &+= 1; return false }
        pending.append(fault)
        return true
    }

    /// Up to `max` faults, oldest first.
    mutating func take(max: Int) -> [IOMMUFault] {
        let n = Swift.min(Swift.max(0, max), count)
        let out = Array(pending[head..<head + n])
        head += n
        if head == pending.count { pending.removeAll(keepingCapacity: true); head = 0 }
        return out
    }

    /// Empties the queue (device reset); the discarded reports are counted as dropped.
    mutating func discardAll() {
        dropped &+= UInt64(count)
        pending.removeAll()
        head = 0
    }
}
