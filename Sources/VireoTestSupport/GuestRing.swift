// GuestRing: the driver's side of a split virtqueue in test guest RAM: descriptor table, avail and used rings.
// It builds chains (direct or indirect), publishes them, kicks, and waits for used entries; tests may also write
// raw descriptors to play a hostile driver.
import Foundation
import GuestMemory
import VireoSystem

public final class GuestRing: @unchecked Sendable {
    // Sendable: driven by one test at a time.
    public let size: UInt16
    public let desc: UInt64, avail: UInt64, used: UInt64
    let ram: GuestRAM
    public let kick: OwnedFD
    public let call: OwnedFD
    public var eventIdx = false
    private var freeHead: UInt16 = 0
    public private(set) var availIdx: UInt16 = 0
    public private(set) var lastUsed: UInt16 = 0

    public init(ram: GuestRAM, size: UInt16 = 256, region: Int = 0) throws {
        self.ram = ram
        self.size = size
        desc = ram.allocate(UInt64(size) * 16, region: region)
        avail = ram.allocate(6 + 2 * UInt64(size), region: region)
        used = ram.allocate(6 + 8 * UInt64(size), region: region)
        kick = try EventFD.make()
        call = try EventFD.make()
    }

    public struct Buffer: Sendable {
        public var address: UInt64
        public var length: UInt32
        public var writable: Bool
        public init(address: UInt64, length: UInt32, writable: Bool) {
            self.address = address; self.length = length; self.writable = writable
        }
    }

    /// Writes descriptor `index` exactly as given (for hostile tests too).
    public func writeDescriptor(_ index: UInt16, address: UInt64, length: UInt32, flags: UInt16, next: UInt16,
                                table: UInt64? = nil) {
        let at = (table ?? desc) + UInt64(index) * 16
        let m = ram.memory
        try! m.store(address, at: at); try! m.store(length, at: at + 8)
        try! m.store(flags, at: at + 12); try! m.store(next, at: at + 14)
    }

    /// Places `buffers` as a chain (in an indirect table when asked) and returns its head, unpublished.
    public func addChain(_ buffers: [Buffer], indirect: Bool = false) -> UInt16 {
        let head = freeHead
        if indirect {
            let table = ram.allocate(UInt64(buffers.count) * 16, align: 16)
            for (i, b) in buffers.enumerated() {
                let more = i + 1 < buffers.count
                writeDescriptor(UInt16(i), address: b.address, length: b.length,
                                flags: (more ? 1 : 0) | (b.writable ? 2 : 0), next: more ? UInt16(i + 1) : 0, table: table)
            }
            writeDescriptor(head, address: table, length: UInt32(buffers.count * 16), flags: 4, next: 0)
            freeHead = (freeHead + 1) % size
            return head
        }
        for (i, b) in buffers.enumerated() {
            let index = (head + UInt16(i)) % size
            let more = i + 1 < buffers.count
            writeDescriptor(index, address: b.address, length: b.length,
                            flags: (more ? 1 : 0) | (b.writable ? 2 : 0), next: (index + 1) % size)
        }
        freeHead = (head + UInt16(buffers.count)) % size
        return head
    }

    /// Publishes `head` in the avail ring (no kick).
    public func publish(_ head: UInt16) {
        let m = ram.memory
        try! m.store(head, at: avail + 4 + 2 * UInt64(availIdx % size))
        MemoryFence.release()
        availIdx &+= 1
        try! m.store(availIdx, at: avail + 2)
        MemoryFence.full()
    }

    /// Sets the raw avail index (hostile tests).
    public func setAvailIndex(_ idx: UInt16) {
        availIdx = idx
        try! ram.memory.store(idx, at: avail + 2)
    }

    /// With EVENT_IDX: ask to be notified after every used entry.
    public func requestEveryNotification() {
        try! ram.memory.store(lastUsed, at: avail + 4 + 2 * UInt64(size))
    }

    public func notify() { EventFD.signal(kick) }

    /// Waits for the next used element; nil on timeout.
    public func waitUsed(timeout: TimeInterval = 5) -> (id: UInt32, length: UInt32)? {
        let deadline = Date() + timeout
        let m = ram.memory
        while Date() < deadline {
            let idx = try! m.load(UInt16.self, at: used + 2)
            if idx != lastUsed {
                MemoryFence.acquire()
                let slot = UInt64(lastUsed % size)
                let id = try! m.load(UInt32.self, at: used + 4 + 8 * slot)
                let len = try! m.load(UInt32.self, at: used + 4 + 8 * slot + 4)
                lastUsed &+= 1
                if eventIdx { requestEveryNotification() }
                return (id, len)
            }
            _ = try? UnixSocket.waitReadable(call, timeoutMS: 20)
            _ = EventFD.drain(call)
        }
        return nil
    }

    public var usedIndex: UInt16 { try! ram.memory.load(UInt16.self, at: used + 2) }
    public var availEvent: UInt16 { try! ram.memory.load(UInt16.self, at: used + 4 + 8 * UInt64(size)) }
}
