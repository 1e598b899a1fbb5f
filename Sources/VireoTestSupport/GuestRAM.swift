// GuestRAM: a test guest's memory: memfd-backed regions at guest addresses that differ from the frontend's
// "user" addresses, one of them at a non-zero mmap offset, with a simple allocator for driver buffers.
import GuestMemory
import VhostUser
import VireoSystem

public final class GuestRAM: @unchecked Sendable {
    // Sendable: tests use it from one task at a time.
    public struct Region: Sendable {
        public let layout: MemoryRegionLayout
        public let fd: OwnedFD
    }
    public let regions: [Region]
    /// The driver's own view (the same shared memory, mapped in this process).
    public let memory: GuestMemory
    private var next: [UInt64]

    /// Default: two 8 MiB regions at 0x0 and 0x1_0000_0000 (a gap), both in one memfd, the second at offset 8 MiB.
    public convenience init(regionSize: UInt64 = 8 << 20) throws {
        try self.init(layouts: [
            MemoryRegionLayout(guestPhysAddr: 0, memorySize: regionSize, userspaceAddr: 0x7f12_0000_0000,
                               mmapOffset: 0),
            MemoryRegionLayout(guestPhysAddr: 0x1_0000_0000, memorySize: regionSize,
                               userspaceAddr: 0x7f34_0000_0000, mmapOffset: regionSize),
        ], sharedFile: true)
    }

    /// Regions as given; with `sharedFile` they all live in one memfd at their mmapOffsets.
    public init(layouts: [MemoryRegionLayout], sharedFile: Bool) throws {
        var made: [Region] = []
        if sharedFile {
            let size = layouts.map { $0.mmapOffset + $0.memorySize }.max() ?? 0
            let fd = try MemFD.make(name: "vireo-test-ram", size: size)
            made = try layouts.map { Region(layout: $0, fd: try fd.duplicate()) }
        } else {
            made = try layouts.map { Region(layout: $0, fd: try MemFD.make(name: "vireo-test-ram", size: $0.mmapOffset + $0.memorySize)) }
        }
        regions = made
        memory = try GuestMemory(regions: made.map { try MemoryRegion(layout: $0.layout, fd: $0.fd) })
        next = layouts.map(\.guestPhysAddr)
    }

    /// Reserves `size` bytes (aligned) in region `region`; traps if the test asks for more than exists.
    public func allocate(_ size: UInt64, align: UInt64 = 4096, region: Int = 0) -> UInt64 {
        let base = (next[region] + align - 1) / align * align
        let layout = regions[region].layout
        precondition(base + size <= layout.guestPhysAddr + layout.memorySize, "test guest RAM exhausted")
        next[region] = base + size
        return base
    }

    public func userAddress(of gpa: UInt64) -> UInt64 {
        for r in regions where gpa >= r.layout.guestPhysAddr && gpa - r.layout.guestPhysAddr < r.layout.memorySize {
            return r.layout.userspaceAddr + (gpa - r.layout.guestPhysAddr)
        }
        preconditionFailure("address 0x\(String(gpa, radix: 16)) not in test RAM")
    }

    public var vhostRegions: [VhostUserMemoryRegion] {
        regions.map {
            VhostUserMemoryRegion(guestPhysAddr: $0.layout.guestPhysAddr, memorySize: $0.layout.memorySize,
                                  userspaceAddr: $0.layout.userspaceAddr, mmapOffset: $0.layout.mmapOffset)
        }
    }

    public func write(_ bytes: [UInt8], at gpa: UInt64) { try! memory.writeBytes(bytes, at: gpa) }
    public func read(_ count: Int, at gpa: UInt64) -> [UInt8] { try! memory.readBytes(at: gpa, count: count) }
}
