// PendingEvents: the events waiting for eventq buffers, bounded, kept in groups that each end with SYN_REPORT.
// When the guest posts no buffers the queue fills; then the oldest groups that release nothing go first (pointer
// motion, presses), so releases survive and no key or button sticks down in the guest; the release of a press that
// was dropped goes with it (the guest never saw the key down), so releases cannot pile up either. Pointer motion that finds
// a motion-only group still waiting replaces it (the guest wants the newest position, not every step).

struct EventGroup: Sendable {
    var events: [VirtioInputEvent]
    /// Releases a key or button: dropped only when nothing else can be.
    var releases: Bool
    /// Only ABS_X/ABS_Y (and SYN): the newest replaces an older one still waiting.
    var motionOnly: Bool
}

struct PendingEvents: Sendable {
    /// Most events held (a group is never larger than this).
    let capacity: Int
    private(set) var groups: [EventGroup] = []
    /// Events of `groups[0]` already handed out (a group may be split over eventq buffers).
    private var sent = 0
    private(set) var count = 0
    /// Events thrown away because the queue was full.
    private(set) var dropped: UInt64 = 0
    /// Release events among them (only when the queue held nothing else it could drop).
    private(set) var releasesDropped: UInt64 = 0
    /// Motion groups replaced by a newer position.
    private(set) var coalesced: UInt64 = 0

    init(capacity: Int) { self.capacity = max(capacity, 8) }

    var isEmpty: Bool { count == 0 }

    /// A group may be touched (dropped, replaced) only while none of it was handed out.
    private func untouched(_ i: Int) -> Bool { i > 0 || sent == 0 }

    /// Keys and buttons whose press was dropped before the guest saw it: their release is not needed either.
    private var droppedPresses: Set<UInt16> = []

    private static func isRelease(_ e: VirtioInputEvent) -> Bool { e.type == EventType.key && e.value == KeyValue.up }
    private static func isPress(_ e: VirtioInputEvent) -> Bool { e.type == EventType.key && e.value == KeyValue.down }

    mutating func append(_ group: EventGroup) {
        var group = group
        if group.releases, !droppedPresses.isEmpty {
            group.events.removeAll { Self.isRelease($0) && droppedPresses.remove($0.code) != nil }
            group.releases = group.events.contains(where: Self.isRelease)
            guard group.events.contains(where: { $0 != .synReport }) else { return }
        }
        guard !group.events.isEmpty else { return }
        if group.motionOnly, let last = groups.indices.last, groups[last].motionOnly, untouched(last) {
            count += group.events.count - groups[last].events.count
            groups[last] = group
            coalesced &+= 1
            return
        }
        let n = min(group.events.count, capacity)
        while count + n > capacity {
            if let i = groups.indices.first(where: { untouched($0) && !groups[$0].releases }) {
                drop(at: i)
            } else if !group.releases {
                dropped &+= UInt64(group.events.count)
                return
            } else if let i = groups.indices.first(where: untouched) {
                releasesDropped &+= UInt64(groups[i].events.count { $0.type == EventType.key && $0.value == KeyValue.up })
                drop(at: i)
            } else {
                break   // only a partly sent group is left: it drains first
            }
        }
        guard count + n <= capacity else {
            dropped &+= UInt64(group.events.count)
            if group.releases { releasesDropped &+= UInt64(group.events.count { $0.type == EventType.key && $0.value == KeyValue.up }) }
            return
        }
        groups.append(EventGroup(events: Array(group.events.prefix(n)), releases: group.releases,
                                 motionOnly: group.motionOnly))
        count += n
    }

    /// Drops group `i` (untouched). The releases of the presses it held go too: from a later group, or when they
    /// arrive.
    private mutating func drop(at i: Int) {
        let gone = groups.remove(at: i)
        count -= gone.events.count
        dropped &+= UInt64(gone.events.count)
        for press in gone.events where Self.isPress(press) {
            if let j = groups[i...].firstIndex(where: { $0.events.contains { Self.isRelease($0) && $0.code == press.code } }) {
                let k = groups[j].events.firstIndex { Self.isRelease($0) && $0.code == press.code }!
                groups[j].events.remove(at: k)
                count -= 1
                dropped &+= 1
                groups[j].releases = groups[j].events.contains(where: Self.isRelease)
                if !groups[j].events.contains(where: { $0 != .synReport }) {
                    count -= groups[j].events.count
                    dropped &+= UInt64(groups[j].events.count)
                    groups.remove(at: j)
                }
            } else {
                droppedPresses.insert(press.code)
            }
        }
    }

    /// Up to `max` events, oldest first.
    mutating func take(max: Int) -> [VirtioInputEvent] {
        var out: [VirtioInputEvent] = []
        while out.count < max, !groups.isEmpty {
            let g = groups[0].events
            let n = min(max - out.count, g.count - sent)
            out += g[sent..<sent + n]
            sent += n
            count -= n
            if sent == g.count { groups.removeFirst(); sent = 0 }
        }
        return out
    }

    mutating func removeAll() { groups = []; sent = 0; count = 0; droppedPresses = [] }
}
