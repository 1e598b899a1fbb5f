// The endpoint translator (DMATranslator) and fault reporting (IOMMU-6.8).
import GuestMemory
import Testing
@testable import VirtioIOMMU
import VireoSystem

@Suite struct IOMMUTranslateTests {
    @Test("IOMMU-6.4: a read-only mapping refuses device writes; a write-only one refuses reads")
    func permissions() throws {
        let d = attached()
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0x10000, flags: 1)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0x1000, end: 0x1fff, phys: 0x20000, flags: 2)) == .ok)
        #expect(!d.dma(1, 0x10, 4, .read).failed)
        #expect(d.dma(1, 0x10, 4, .write) == .failure(.translationFault(iova: 0x10, length: 4, access: .write)))
        #expect(!d.dma(1, 0x1010, 4, .write).failed)
        #expect(d.dma(1, 0x1010, 4, .read).failed)
        let faults = d.takeFaults()
        #expect(faults == [IOMMUFault(reason: .mapping, access: .write, endpoint: 1, address: 0x10),
                           IOMMUFault(reason: .mapping, access: .read, endpoint: 1, address: 0x1010)])
    }

    @Test("IOMMU-6.4: a range over several mappings gives fragments in order, adjacent ones merged")
    func fragments() throws {
        let d = attached()
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0x10000)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0x1000, end: 0x1fff, phys: 0x11000)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0x2000, end: 0x2fff, phys: 0x50000)) == .ok)
        #expect(try d.dma(1, 0x800, 0x2000, .read).get() ==
                [.init(address: 0x10800, length: 0x1800), .init(address: 0x50000, length: 0x800)])
        #expect(try d.dma(1, 0x800, 0, .read).get() == [])
    }

    @Test("IOMMU-6.8: a partly mapped range is refused at its first unmapped byte, with a MAPPING fault")
    func hole() {
        let d = attached()
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0x10000)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0x2000, end: 0x2fff, phys: 0x12000)) == .ok)
        #expect(d.dma(1, 0x800, 0x2000, .read) == .failure(.translationFault(iova: 0x1000, length: 0x1800, access: .read)))
        #expect(d.dma(1, .max - 1, 4, .read).failed)       // wraps
        let f = d.takeFaults()
        #expect(f.map(\.reason) == [.mapping, .mapping] && f[0].address == 0x1000)
    }

    @Test("IOMMU-6.4: an MMIO mapping is never split or combined")
    func mmio() {
        let d = attached()
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0x10000)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0x1000, end: 0x1fff, phys: 0x11000, flags: 7)) == .ok)
        #expect(d.dma(1, 0x1000, 8, .write) == .success([.init(address: 0x11000, length: 8)]))
        #expect(d.dma(1, 0xff8, 16, .write).failed)
    }

    @Test("IOMMU-6.8: fault reports carry reason, READ/WRITE and ADDRESS flags, endpoint, address; reserved zero")
    func faultBytes() throws {
        let d = makeDevice()
        _ = d.dma(2, 0x1234_5678_9000, 8, .write)
        _ = d.dma(7, 0x42, 1, .read)                         // not managed here: UNKNOWN
        let r = d.handle(request: Req.attach(domain: 1, endpoint: 1), writableLength: 4)
        #expect(r.faults.count == 2)
        #expect(r.faults[0].bytes == [1, 0, 0, 0, 0x02, 0x01, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
                                      0x00, 0x90, 0x78, 0x56, 0x34, 0x12, 0, 0])
        #expect(r.faults[1].reason == .unknown && r.faults[1].flags == 0x101 && r.faults[1].endpoint == 7)
        #expect(d.pendingFaultCount == 0)
        #expect(d.statistics.faultsRecorded == 2 && d.statistics.refusedTranslations == 2)
    }

    @Test("IOMMU-6.8: a fault flood is bounded; the overflow is counted, none lost silently")
    func flood() {
        let d = makeDevice { $0.maxPendingFaults = 256 }
        for i in 0..<10_000 { _ = d.dma(1, UInt64(i) * 0x1000, 4, .read) }
        #expect(d.pendingFaultCount == 256)
        let s = d.statistics
        #expect(s.faultsRecorded == 256 && s.faultsDropped == 10_000 - 256 && s.refusedTranslations == 10_000)
        let first = d.takeFaults(max: 10)
        #expect(first.map(\.address) == (0..<10).map { UInt64($0) * 0x1000 })
        #expect(d.takeFaults().count == 246)
        _ = d.dma(1, 0, 4, .read)
        #expect(d.pendingFaultCount == 1)
    }

    @Test("IOMMU-6.8: a device reset discards pending faults as dropped, counted")
    func resetCounts() {
        let d = makeDevice()
        _ = d.dma(1, 0, 4, .read)
        d.reset()
        #expect(d.pendingFaultCount == 0 && d.statistics.faultsDropped == 1)
    }

    @Test("IOMMU-5.1: translation runs from other threads while requests change the table")
    func concurrent() async {
        let d = attached()
        await withTaskGroup(of: Int.self) { group in
            group.addTask {
                for i in 0..<2000 {
                    let start = UInt64(i % 64) * 0x1000
                    d.status(Req.map(domain: 1, start: start, end: start + 0xfff, phys: start))
                    d.status(Req.unmap(domain: 1, start: start, end: start + 0xfff))
                }
                return 0
            }
            for t in 0..<2 {
                group.addTask {
                    var ok = 0
                    let translator = d.translator(for: 1)
                    for i in 0..<4000 {
                        let iova = UInt64((i + t) % 64) * 0x1000
                        if let r = try? translator.translate(iova, length: 16, access: .read) {
                            #expect(r == [GuestRange(address: iova, length: 16)])
                            ok += 1
                        }
                    }
                    return ok
                }
            }
            for await _ in group {}
        }
        #expect(d.usage.mappings == 0)
    }

    @Test("IOMMU-6.4: DMASpace reads and writes guest memory through the endpoint's mappings")
    func dmaSpace() throws {
        let size: UInt64 = 0x10_0000
        let region = try MemoryRegion(layout: .init(guestPhysAddr: 0, memorySize: size, userspaceAddr: 0x7f00_0000_0000,
                                                    mmapOffset: 0), fd: MemFD.make(name: "iommu-test", size: size))
        let memory = try GuestMemory(regions: [region])
        let d = attached()
        #expect(d.status(Req.map(domain: 1, start: 0x4000_0000, end: 0x4000_0fff, phys: 0x8000, flags: 3)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0x5000_0000, end: 0x5000_0fff, phys: 0x8000, flags: 1)) == .ok)
        let dma = DMASpace(memory: memory, translator: d.translator(for: 1))
        try dma.writeBytes([1, 2, 3, 4], at: 0x4000_0010)
        #expect(try memory.readBytes(at: 0x8010, count: 4) == [1, 2, 3, 4])
        #expect(try dma.readBytes(at: 0x5000_0010, count: 4) == [1, 2, 3, 4])
        #expect(throws: GuestMemoryError.self) { try dma.writeBytes([9], at: 0x5000_0010) }
        #expect(try memory.readBytes(at: 0x8010, count: 1) == [1])
    }
}
