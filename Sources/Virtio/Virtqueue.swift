// Virtqueue: one split virtqueue (virtio 2.7) in guest memory: popping available chains, publishing used ones,
// and deciding whether the driver wants a notification (EVENT_IDX, 2.7.10).
import GuestMemory
import VireoSystem

public enum VirtqueueError: Error, Equatable, Sendable, CustomStringConvertible {
    case notReady
    case ringOutsideMemory(String)
    case availIndexJump(from: UInt16, to: UInt16, size: UInt16)
    case headOutOfRange(UInt16, size: UInt16)
    case memory(GuestMemoryError)
    /// Behind an IOMMU: a ring or descriptor translation is not known yet; nothing was consumed, retry later.
    case translationMiss(UInt64)
    public var description: String {
        switch self {
        case .notReady: "queue is not configured"
        case .ringOutsideMemory(let what): "\(what) does not fit guest memory"
        case .availIndexJump(let f, let t, let s): "avail idx moved from \(f) to \(t), more than the size \(s)"
        case .headOutOfRange(let h, let s): "chain head \(h) >= queue size \(s)"
        case .memory(let e): "ring access failed: \(e)"
        case .translationMiss(let a): "waiting for an IOMMU translation of 0x\(String(a, radix: 16))"
        }
    }
    /// The queue cannot be trusted any more (as opposed to a translation that has not arrived yet).
    public var isFatal: Bool {
        switch self {
        case .translationMiss: false
        case .memory(.translationMiss): false
        default: true
        }
    }
}

public struct VirtqueueLayout: Equatable, Sendable {
    public var size: UInt16            // number of descriptors, power of two
    public var descTable: UInt64       // device addresses (guest-physical, or IOVA behind an IOMMU)
    public var availRing: UInt64
    public var usedRing: UInt64
    public init(size: UInt16, descTable: UInt64, availRing: UInt64, usedRing: UInt64) {
        self.size = size; self.descTable = descTable; self.availRing = availRing; self.usedRing = usedRing
    }
    /// Largest queue Vireo accepts (virtio 2.7: at most 32768).
    public static let maxSize: UInt16 = 32768
    public static func isValidSize(_ n: UInt32) -> Bool { n > 0 && n <= UInt32(maxSize) && n & (n - 1) == 0 }
}

public struct Virtqueue: Sendable {
    public let layout: VirtqueueLayout
    public var eventIdx: Bool
    /// Next avail ring slot the device reads (vhost-user SET/GET_VRING_BASE).
    public var lastAvailIdx: UInt16
    /// Next used ring slot the device writes.
    public var usedIdx: UInt16
    private var signalledUsed: UInt16?

    static let descSize: UInt64 = 16

    /// Checks that the three rings fit the memory the device can reach (with write access for used). Behind an
    /// IOMMU whose translations arrive later `checkRings` is false: every ring access is checked when it happens.
    public init(layout: VirtqueueLayout, dma: DMASpace, eventIdx: Bool, base: UInt16,
                checkRings: Bool = true) throws(VirtqueueError) {
        let n = UInt64(layout.size)
        precondition(VirtqueueLayout.isValidSize(UInt32(layout.size)), "caller validates the size")
        if checkRings { do {
            _ = try dma.resolve(layout.descTable, length: n * Self.descSize, access: .read)
        } catch { throw .ringOutsideMemory("descriptor table") }
        do {
            _ = try dma.resolve(layout.availRing, length: 6 + 2 * n, access: .read)
        } catch { throw .ringOutsideMemory("available ring") }
        do {
            _ = try dma.resolve(layout.usedRing, length: 6 + 8 * n, access: .write)
        } catch { throw .ringOutsideMemory("used ring") } }
        self.layout = layout
        self.eventIdx = eventIdx
        lastAvailIdx = base
        usedIdx = base
    }

    /// The next available chain, walked and checked, or nil when the driver has published nothing new.
    /// A `ChainError` concerns one chain: the caller returns it used with length 0 and goes on.
    public mutating func popChain(dma: DMASpace) throws(VirtqueueError) -> Result<DescriptorChain, BadChain>? {
        let availIdx: UInt16
        do { availIdx = try dma.load(UInt16.self, at: layout.availRing + 2) }
        catch .translationMiss(let iova, _) { throw .translationMiss(iova) } catch { throw .memory(error) }
        let pending = availIdx &- lastAvailIdx
        guard pending != 0 else { return nil }
        guard pending <= layout.size else {
            throw .availIndexJump(from: lastAvailIdx, to: availIdx, size: layout.size)
        }
        MemoryFence.acquire()   // read ring entries only after the index that published them
        let slot = UInt64(lastAvailIdx % layout.size)
        let head: UInt16
        do { head = try dma.load(UInt16.self, at: layout.availRing + 4 + 2 * slot) }
        catch .translationMiss(let iova, _) { throw .translationMiss(iova) } catch { throw .memory(error) }
        guard head < layout.size else { throw .headOutOfRange(head, size: layout.size) }
        let walked = DescriptorChain.walk(head: head, layout: layout, dma: dma)
        if case .failure(let bad) = walked, case .translationMiss(let iova) = bad.error {
            throw .translationMiss(iova)   // leave the chain in the ring
        }
        lastAvailIdx &+= 1
        return walked
    }

    /// Publishes a used element (virtio 2.7.8).
    public mutating func pushUsed(head: UInt16, length: UInt32, dma: DMASpace) throws(VirtqueueError) {
        let slot = UInt64(usedIdx % layout.size)
        let elem = layout.usedRing + 4 + 8 * slot
        do {
            try dma.store(UInt32(head), at: elem)
            try dma.store(length, at: elem + 4)
            MemoryFence.release()   // the element before the index that publishes it
            usedIdx &+= 1
            try dma.store(usedIdx, at: layout.usedRing + 2)
        } catch { throw .memory(error) }
    }

    /// With EVENT_IDX, tells the driver which avail index should kick us next (avail_event, 2.7.10).
    public func publishAvailEvent(dma: DMASpace) throws(VirtqueueError) {
        guard eventIdx else { return }
        do {
            try dma.store(lastAvailIdx, at: layout.usedRing + 4 + 8 * UInt64(layout.size))
        } catch { throw .memory(error) }
        MemoryFence.full()   // the driver must see avail_event before we re-read avail idx
    }

    /// While the device busy-polls: asks the driver not to kick. Without EVENT_IDX it sets VIRTQ_USED_F_NO_NOTIFY
    /// (2.7.7); with EVENT_IDX nothing is written: the avail_event published before is left behind, so the driver
    /// kicks at most once (2.7.10).
    public func disableKicks(dma: DMASpace) throws(VirtqueueError) {
        guard !eventIdx else { return }
        do { try dma.store(UInt16(1), at: layout.usedRing) } catch { throw .memory(error) }
    }

    /// Before the device sleeps: asks for kicks again. The caller must then re-check `hasPending`, since the driver
    /// may have published while kicks were off.
    public func enableKicks(dma: DMASpace) throws(VirtqueueError) {
        if eventIdx { return try publishAvailEvent(dma: dma) }
        do { try dma.store(UInt16(0), at: layout.usedRing) } catch { throw .memory(error) }
        MemoryFence.full()   // the flag must be visible before we re-read avail idx
    }

    /// Whether the driver asked to be notified for the used entries published since the last notification.
    public mutating func needsNotification(dma: DMASpace) -> Bool {
        MemoryFence.full()   // used idx must be visible before reading the driver's suppression fields
        defer { signalledUsed = usedIdx }
        if eventIdx {
            guard let old = signalledUsed else { return true }
            guard let usedEvent = try? dma.load(UInt16.self, at: layout.availRing + 4 + 2 * UInt64(layout.size)) else {
                return true
            }
            // vring_need_event: notify if used_event lies in (old, new].
            return (usedIdx &- usedEvent &- 1) < (usedIdx &- old)
        }
        guard let flags = try? dma.load(UInt16.self, at: layout.availRing) else { return true }
        return flags & 1 == 0   // VIRTQ_AVAIL_F_NO_INTERRUPT
    }

    /// True when the driver published chains we have not popped (re-check after publishing avail_event).
    public func hasPending(dma: DMASpace) -> Bool {
        guard let idx = try? dma.load(UInt16.self, at: layout.availRing + 2) else { return false }
        return idx != lastAvailIdx
    }
}
