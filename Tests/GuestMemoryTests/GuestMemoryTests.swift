// GuestMemory: every access is checked against the regions; tables are validated whole; the IOTLB translates
// with permissions and asks for misses.
import Synchronization
import Testing
import VireoSystem
@testable import GuestMemory

func twoRegions(adjacent: Bool) throws -> GuestMemory {
    let fd = try MemFD.make(name: "gm-test", size: 2 << 20)
    let second: UInt64 = adjacent ? 0x10_0000 : 0x4000_0000
    return try GuestMemory(regions: [
        MemoryRegion(layout: .init(guestPhysAddr: 0, memorySize: 1 << 20, userspaceAddr: 0x7000_0000_0000, mmapOffset: 0), fd: fd),
        MemoryRegion(layout: .init(guestPhysAddr: second, memorySize: 1 << 20, userspaceAddr: 0x7100_0000_0000,
                                   mmapOffset: 1 << 20), fd: fd),
    ])
}

@Suite struct GuestMemoryTests {
    @Test("Reads and writes inside a region round-trip; little-endian loads and stores")
    func roundTrip() throws {
        let m = try twoRegions(adjacent: false)
        try m.writeBytes([1, 2, 3, 4], at: 0x4000_0010)
        #expect(try m.readBytes(at: 0x4000_0010, count: 4) == [1, 2, 3, 4])
        #expect(try m.load(UInt32.self, at: 0x4000_0010) == 0x0403_0201)
        try m.store(UInt16(0xbeef), at: 8)
        #expect(try m.readBytes(at: 8, count: 2) == [0xef, 0xbe])
    }

    @Test("A range may cross adjacent regions, never a gap")
    func crossing() throws {
        let adjacent = try twoRegions(adjacent: true)
        try adjacent.writeBytes([9, 9, 9, 9], at: 0x10_0000 - 2)
        #expect(try adjacent.readBytes(at: 0x10_0000 - 2, count: 4) == [9, 9, 9, 9])
        let gap = try twoRegions(adjacent: false)
        #expect(throws: GuestMemoryError.outOfRange(address: 0x10_0000 - 2, length: 4)) {
            try gap.readBytes(at: 0x10_0000 - 2, count: 4)
        }
    }

    @Test("Out of range, past the end and wrapping accesses are refused and copy nothing")
    func outOfRange() throws {
        let m = try twoRegions(adjacent: false)
        for (address, count) in [(UInt64(0x2000_0000), 1), (UInt64(1 << 20) - 1, 2), (UInt64.max - 1, 4)] {
            #expect(throws: GuestMemoryError.self) { try m.readBytes(at: address, count: count) }
        }
        try m.writeBytes([7], at: (1 << 20) - 1)
        #expect(throws: GuestMemoryError.self) { try m.writeBytes([1, 2], at: (1 << 20) - 1) }
        #expect(try m.readBytes(at: (1 << 20) - 1, count: 1) == [7])   // the failed write changed nothing
    }

    @Test("Tables with empty, wrapping or overlapping (guest or user) regions are refused")
    func validation() {
        let ok = MemoryRegionLayout(guestPhysAddr: 0, memorySize: 0x1000, userspaceAddr: 0x10000, mmapOffset: 0)
        #expect(throws: MemoryTableError.emptyRegion(index: 0)) {
            try GuestMemory.validate([MemoryRegionLayout(guestPhysAddr: 0, memorySize: 0, userspaceAddr: 0, mmapOffset: 0)])
        }
        #expect(throws: MemoryTableError.wraps(index: 0)) {
            try GuestMemory.validate([MemoryRegionLayout(guestPhysAddr: .max, memorySize: 2, userspaceAddr: 0, mmapOffset: 0)])
        }
        #expect(throws: MemoryTableError.overlapping(0, 1)) {
            try GuestMemory.validate([ok, MemoryRegionLayout(guestPhysAddr: 0xfff, memorySize: 0x1000, userspaceAddr: 0x90000, mmapOffset: 0)])
        }
        #expect(throws: MemoryTableError.overlapping(0, 1)) {
            try GuestMemory.validate([ok, MemoryRegionLayout(guestPhysAddr: 0x8000, memorySize: 0x1000, userspaceAddr: 0x10fff, mmapOffset: 0)])
        }
        #expect(throws: Never.self) {
            try GuestMemory.validate([ok, MemoryRegionLayout(guestPhysAddr: 0x1000, memorySize: 0x1000, userspaceAddr: 0x11000, mmapOffset: 0)])
        }
    }

    @Test("User addresses map to guest addresses per region")
    func userAddresses() throws {
        let m = try twoRegions(adjacent: false)
        #expect(m.guestAddress(ofUserAddress: 0x7100_0000_0010) == 0x4000_0010)
        #expect(m.guestAddress(ofUserAddress: 0x7200_0000_0000) == nil)
    }
}

@Suite struct IOTLBTests {
    @Test("Translations carry permissions: read-only refuses writes, write-only refuses reads")
    func permissions() throws {
        let tlb = IOTLB()
        try tlb.update(IOTLBEntry(iova: 0x1000, size: 0x1000, guestAddress: 0x8000, permission: .read))
        try tlb.update(IOTLBEntry(iova: 0x2000, size: 0x1000, guestAddress: 0x20000, permission: .write))
        #expect(try tlb.translate(0x1010, length: 0x10, access: .read) == [GuestRange(address: 0x8010, length: 0x10)])
        #expect(throws: GuestMemoryError.translationFault(iova: 0x1010, length: 4, access: .write)) {
            try tlb.translate(0x1010, length: 4, access: .write)
        }
        #expect(throws: GuestMemoryError.translationFault(iova: 0x2000, length: 4, access: .read)) {
            try tlb.translate(0x2000, length: 4, access: .read)
        }
    }

    @Test("A range spanning entries returns fragments in order; a hole is a miss at its first byte")
    func fragmentsAndMisses() throws {
        let tlb = IOTLB()
        try tlb.update(IOTLBEntry(iova: 0x1000, size: 0x1000, guestAddress: 0x9000, permission: .readWrite))
        try tlb.update(IOTLBEntry(iova: 0x2000, size: 0x1000, guestAddress: 0x3000, permission: .readWrite))
        #expect(try tlb.translate(0x1ff0, length: 0x20, access: .read)
                == [GuestRange(address: 0x9ff0, length: 0x10), GuestRange(address: 0x3000, length: 0x10)])
        #expect(throws: GuestMemoryError.translationMiss(iova: 0x3000, access: .read)) {
            try tlb.translate(0x2ff0, length: 0x20, access: .read)
        }
        tlb.invalidate(iova: 0x1800, size: 0x10)
        #expect(throws: GuestMemoryError.translationMiss(iova: 0x1000, access: .read)) {
            try tlb.translate(0x1000, length: 1, access: .read)
        }
    }

    @Test("The miss handler is asked for each missing piece while it makes progress, then the miss stands")
    func missHandler() throws {
        let tlb = IOTLB()
        let asked = Mutex<[UInt64]>([])
        tlb.missHandler = { iova, _ in
            asked.withLock { $0.append(iova) }
            guard iova < 0x3000 else { return false }
            try? tlb.update(IOTLBEntry(iova: iova & ~0xfff, size: 0x1000, guestAddress: iova & ~0xfff, permission: .readWrite))
            return true
        }
        #expect(try tlb.translate(0x1000, length: 0x2000, access: .read).count == 2)
        #expect(asked.withLock { $0 } == [0x1000, 0x2000])
        #expect(throws: GuestMemoryError.translationMiss(iova: 0x3000, access: .read)) {
            try tlb.translate(0x2800, length: 0x1000, access: .read)
        }
    }

    @Test("Bad updates are refused; the table is bounded")
    func badUpdates() throws {
        let tlb = IOTLB(capacity: 2)
        #expect(throws: IOTLB.UpdateError.empty) { try tlb.update(IOTLBEntry(iova: 0, size: 0, guestAddress: 0, permission: .read)) }
        #expect(throws: IOTLB.UpdateError.wraps) { try tlb.update(IOTLBEntry(iova: .max, size: 2, guestAddress: 0, permission: .read)) }
        try tlb.update(IOTLBEntry(iova: 0, size: 1, guestAddress: 0, permission: .read))
        try tlb.update(IOTLBEntry(iova: 8, size: 1, guestAddress: 0, permission: .read))
        #expect(throws: IOTLB.UpdateError.full(2)) { try tlb.update(IOTLBEntry(iova: 16, size: 1, guestAddress: 0, permission: .read)) }
    }
}
