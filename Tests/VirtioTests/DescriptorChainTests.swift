// Hostile drivers: descriptor chains that loop, leave guest RAM, break the direction order, nest indirect
// tables or are longer than the queue are refused one chain at a time; a corrupt ring index stops the queue.
import GuestMemory
import Testing
import VireoSystem
import VireoTestSupport
@testable import Virtio

struct RingFixture {
    let ram: GuestRAM
    let ring: GuestRing
    var queue: Virtqueue
    var dma: DMASpace { DMASpace(memory: ram.memory) }
    let buf: UInt64

    init(size: UInt16 = 8, eventIdx: Bool = false) throws {
        ram = try GuestRAM()
        ring = try GuestRing(ram: ram, size: size)
        queue = try Virtqueue(layout: VirtqueueLayout(size: size, descTable: ring.desc, availRing: ring.avail,
                                                      usedRing: ring.used),
                              dma: DMASpace(memory: ram.memory), eventIdx: eventIdx, base: 0)
        buf = ram.allocate(4096)
    }

    mutating func pop() throws -> Result<DescriptorChain, BadChain>? { try queue.popChain(dma: dma) }
}

@Suite struct DescriptorChainTests {
    @Test("A direct chain: readable then writable buffers, in order")
    func directChain() throws {
        var f = try RingFixture()
        let head = f.ring.addChain([.init(address: f.buf, length: 16, writable: false),
                                    .init(address: f.buf + 16, length: 8, writable: false),
                                    .init(address: f.buf + 64, length: 32, writable: true)])
        f.ring.publish(head)
        let chain = try #require(try f.pop()).get()
        #expect(chain.head == head)
        #expect(chain.readable.map(\.length) == [16, 8])
        #expect(chain.writable.map(\.length) == [32])
        #expect(try f.pop() == nil)
    }

    @Test("A chain that loops is refused after queue-size descriptors")
    func loopingChain() throws {
        var f = try RingFixture()
        f.ring.writeDescriptor(0, address: f.buf, length: 8, flags: 1, next: 1)
        f.ring.writeDescriptor(1, address: f.buf, length: 8, flags: 1, next: 0)
        f.ring.publish(0)
        let result = try #require(try f.pop())
        #expect(throws: BadChain(head: 0, error: .tooLong(limit: 8))) { try result.get() }
    }

    @Test("A next index past the table is refused")
    func nextOutOfRange() throws {
        var f = try RingFixture()
        f.ring.writeDescriptor(0, address: f.buf, length: 8, flags: 1, next: 99)
        f.ring.publish(0)
        #expect(throws: BadChain(head: 0, error: .nextOutOfRange(99))) { try #require(try f.pop()).get() }
    }

    @Test("Buffers outside guest RAM, in the gap between regions, or wrapping are refused")
    func outsideRAM() throws {
        for address: UInt64 in [0x8000_0000, UInt64.max - 4, 8 << 20] {
            var f = try RingFixture()
            f.ring.writeDescriptor(0, address: address, length: 16, flags: 0, next: 0)
            f.ring.publish(0)
            let r = try #require(try f.pop())
            #expect(throws: BadChain(head: 0, error: .bufferOutsideMemory(address: address, length: 16, writable: false))) {
                try r.get()
            }
        }
    }

    @Test("A buffer crossing from one region into unmapped space is refused, one inside a region accepted")
    func crossingRegionEnd() throws {
        var f = try RingFixture()
        let end = f.ram.regions[0].layout.memorySize
        f.ring.writeDescriptor(0, address: end - 8, length: 16, flags: 0, next: 0)
        f.ring.publish(0)
        #expect(throws: BadChain.self) { try #require(try f.pop()).get() }
    }

    @Test("A readable descriptor after a writable one is refused (virtio 2.7.4.2)")
    func wrongDirection() throws {
        var f = try RingFixture()
        let head = f.ring.addChain([.init(address: f.buf, length: 16, writable: true),
                                    .init(address: f.buf + 16, length: 8, writable: false)])
        f.ring.publish(head)
        #expect(throws: BadChain(head: head, error: .readableAfterWritable)) { try #require(try f.pop()).get() }
    }

    @Test("Indirect tables work; nested indirect, INDIRECT with NEXT and bad lengths are refused")
    func indirect() throws {
        var f = try RingFixture()
        let head = f.ring.addChain([.init(address: f.buf, length: 24, writable: false),
                                    .init(address: f.buf + 64, length: 24, writable: true)], indirect: true)
        f.ring.publish(head)
        let chain = try #require(try f.pop()).get()
        #expect(chain.readable.count == 1 && chain.writable.count == 1)

        let table = f.ram.allocate(64, align: 16)
        f.ring.writeDescriptor(0, address: table, length: 16, flags: 4, next: 0, table: table)   // points at itself
        f.ring.writeDescriptor(1, address: table, length: 16, flags: 4, next: 0)
        f.ring.publish(1)
        #expect(throws: BadChain(head: 1, error: .nestedIndirect)) { try #require(try f.pop()).get() }

        f.ring.writeDescriptor(2, address: table, length: 16, flags: 4 | 1, next: 3)
        f.ring.publish(2)
        #expect(throws: BadChain(head: 2, error: .indirectWithNext)) { try #require(try f.pop()).get() }

        f.ring.writeDescriptor(3, address: table, length: 15, flags: 4, next: 0)
        f.ring.publish(3)
        #expect(throws: BadChain(head: 3, error: .badIndirectLength(15))) { try #require(try f.pop()).get() }

        f.ring.writeDescriptor(4, address: 0xdead_0000, length: 32, flags: 4, next: 0)
        f.ring.publish(4)
        #expect(throws: BadChain.self) { try #require(try f.pop()).get() }
    }

    @Test("An indirect chain that loops inside its table is bounded by the table size")
    func indirectLoop() throws {
        var f = try RingFixture()
        let table = f.ram.allocate(32, align: 16)
        f.ring.writeDescriptor(0, address: f.buf, length: 8, flags: 1, next: 1, table: table)
        f.ring.writeDescriptor(1, address: f.buf, length: 8, flags: 1, next: 0, table: table)
        f.ring.writeDescriptor(0, address: table, length: 32, flags: 4, next: 0)
        f.ring.publish(0)
        #expect(throws: BadChain(head: 0, error: .tooLong(limit: 2))) { try #require(try f.pop()).get() }
    }

    @Test("An avail index that jumps past the queue size stops the queue")
    func availJump() throws {
        var f = try RingFixture()
        f.ring.setAvailIndex(9)
        #expect(throws: VirtqueueError.availIndexJump(from: 0, to: 9, size: 8)) { _ = try f.pop() }
    }

    @Test("A head index past the queue size stops the queue")
    func headOutOfRange() throws {
        var f = try RingFixture()
        f.ring.publish(200)
        #expect(throws: VirtqueueError.headOutOfRange(200, size: 8)) { _ = try f.pop() }
    }

    @Test("Rings that do not fit guest memory are refused at setup")
    func ringsOutsideMemory() throws {
        let ram = try GuestRAM()
        let dma = DMASpace(memory: ram.memory)
        let end = ram.regions[0].layout.memorySize
        #expect(throws: VirtqueueError.ringOutsideMemory("descriptor table")) {
            _ = try Virtqueue(layout: .init(size: 256, descTable: end - 64, availRing: 0, usedRing: 4096), dma: dma,
                              eventIdx: false, base: 0)
        }
        #expect(throws: VirtqueueError.ringOutsideMemory("used ring")) {
            _ = try Virtqueue(layout: .init(size: 256, descTable: 0, availRing: 8192, usedRing: end - 100), dma: dma,
                              eventIdx: false, base: 0)
        }
    }

    @Test("EVENT_IDX: used_event decides notifications; avail_event is published")
    func eventIdx() throws {
        var f = try RingFixture(eventIdx: true)
        let head = f.ring.addChain([.init(address: f.buf, length: 8, writable: false)])
        f.ring.publish(head)
        _ = try #require(try f.pop())
        try f.queue.publishAvailEvent(dma: f.dma)
        #expect(f.ring.availEvent == 1)
        try f.queue.pushUsed(head: head, length: 0, dma: f.dma)
        var notify = f.queue.needsNotification(dma: f.dma)
        #expect(notify)          // first one always
        try f.queue.pushUsed(head: head, length: 0, dma: f.dma)
        // used_event = 0 (the driver wanted a notification after entry 0 only): none for entry 1.
        notify = f.queue.needsNotification(dma: f.dma)
        #expect(!notify)
        f.ring.requestEveryNotification()   // used_event = lastUsed seen by driver (0) ... set to 1
        try f.ram.memory.store(UInt16(2), at: f.ring.avail + 4 + 2 * 8)
        try f.queue.pushUsed(head: head, length: 0, dma: f.dma)
        notify = f.queue.needsNotification(dma: f.dma)
        #expect(notify)
    }

    @Test("Random descriptor tables never trap the walker")
    func randomTables() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var f = try RingFixture()
            for i in 0..<8 {
                let addr = [f.buf, UInt64.random(in: 0...UInt64.max, using: &rng), f.ram.allocate(64)].randomElement(using: &rng)!
                f.ring.writeDescriptor(UInt16(i), address: addr, length: UInt32.random(in: 0...100_000, using: &rng),
                                       flags: UInt16.random(in: 0...7, using: &rng), next: UInt16.random(in: 0...10, using: &rng))
            }
            f.ring.publish(UInt16.random(in: 0...7, using: &rng))
            _ = try? f.pop()
        }
    }
}
