// IOMMU-6.4 MAP, IOMMU-6.5 UNMAP and the client's mapping limits.
import GuestMemory
import Testing
@testable import VirtioIOMMU

func attached(_ configure: (inout IOMMULimits) -> Void = { _ in }) -> IOMMUDevice {
    let d = makeDevice(configure: configure)
    #expect(d.status(Req.attach(domain: 1, endpoint: 1)) == .ok)
    return d
}

@Suite struct IOMMUMapTests {
    @Test("IOMMU-6.4: MAP then DMA: PA = VA - virt_start + phys_start")
    func mapHappy() throws {
        let d = attached()
        #expect(d.status(Req.map(domain: 1, start: 0x4000, end: 0x5fff, phys: 0x100000)) == .ok)
        #expect(try d.dma(1, 0x4ffe, 4, .write).get() == [.init(address: 0x100ffe, length: 4)])
        #expect(d.usage.mappedBytes == 0x2000)
    }

    @Test("IOMMU-6.4: MAP rejects virt_start > virt_end")
    func inverted() {
        let d = attached()
        #expect(d.status(Req.map(domain: 1, start: 0x2000, end: 0x0fff, phys: 0)) == .inval)
        #expect(d.usage.mappings == 0)
    }

    @Test("IOMMU-6.4: MAP rejects virt_start, virt_end + 1 or phys_start unaligned to the page size with RANGE")
    func unaligned() {
        let d = attached()
        #expect(d.status(Req.map(domain: 1, start: 0x800, end: 0x17ff, phys: 0)) == .range)
        #expect(d.status(Req.map(domain: 1, start: 0x1000, end: 0x1ffe, phys: 0)) == .range)
        #expect(d.status(Req.map(domain: 1, start: 0x1000, end: 0x1fff, phys: 0x10)) == .range)
        #expect(d.status(Req.map(domain: 1, start: 0x1000, end: 0x1000, phys: 0)) == .range)
        #expect(d.usage.mappings == 0)
    }

    @Test("IOMMU-6.4: MAP overlapping an existing mapping answers INVAL")
    func overlap() {
        let d = attached()
        #expect(d.status(Req.map(domain: 1, start: 0x4000, end: 0x7fff, phys: 0)) == .ok)
        for (s, e): (UInt64, UInt64) in [(0x3000, 0x4fff), (0x7000, 0x8fff), (0x5000, 0x5fff), (0, 0xffff)] {
            #expect(d.status(Req.map(domain: 1, start: s, end: e, phys: 0x100000)) == .inval)
        }
        #expect(d.status(Req.map(domain: 1, start: 0x8000, end: 0x8fff, phys: 0)) == .ok)
        #expect(d.usage.mappings == 2)
    }

    @Test("IOMMU-6.4: MAP with an unknown flag answers INVAL; MMIO only with F_MMIO negotiated")
    func flags() {
        let d = attached()
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0, flags: 8)) == .inval)
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0, flags: 5)) == .ok)
        let e = makeDevice(features: allFeatures & ~IOMMUFeatures.mmio)
        #expect(e.status(Req.attach(domain: 1, endpoint: 1)) == .ok)
        #expect(e.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0, flags: 5)) == .inval)
        #expect(e.usage.mappings == 0)
    }

    @Test("IOMMU-6.4: MAP on a domain that does not exist answers NOENT, on a bypass domain INVAL")
    func domains() {
        let d = makeDevice()
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0)) == .noEnt)
        #expect(d.status(Req.attach(domain: 2, endpoint: 1, flags: 1)) == .ok)
        #expect(d.status(Req.map(domain: 2, start: 0, end: 0xfff, phys: 0)) == .inval)
        #expect(d.status(Req.unmap(domain: 2, start: 0, end: 0xfff)) == .inval)
    }

    @Test("IOMMU-6.4: MAP whose physical end wraps or lies outside guest memory answers RANGE; MMIO may")
    func physical() {
        let d = attached { $0.inputRange = .all }
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0x1fff, phys: 0xffff_ffff_ffff_f000)) == .range)
        d.setGuestMemoryLayout([GuestRange(address: 0, length: 0x10_0000), GuestRange(address: 0x10_0000, length: 0x1000)])
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0x10_1000)) == .range)
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0x1fff, phys: 0xf_f000)) == .ok)   // spans both regions
        #expect(d.status(Req.map(domain: 1, start: 0x2000, end: 0x2fff, phys: 0xfe00_0000, flags: 6)) == .ok)
    }

    @Test("IOMMU-LIMITS: MAP past maxMappings or maxMappedBytes answers NOMEM, counted; UNMAP frees")
    func limits() {
        let d = attached { $0.maxMappings = 2; $0.maxMappedBytes = 0x3000 }
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0x1fff, phys: 0)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0x2000, end: 0x3fff, phys: 0)) == .noMem)   // bytes
        #expect(d.status(Req.map(domain: 1, start: 0x2000, end: 0x2fff, phys: 0)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0x8000, end: 0x8fff, phys: 0)) == .noMem)   // count
        #expect(d.statistics.limitRefusals == [.mappedBytes: 1, .mappings: 1])
        #expect(d.status(Req.unmap(domain: 1, start: 0, end: 0x2fff)) == .ok)
        #expect(d.usage.mappedBytes == 0 && d.usage.mappings == 0)
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0x2fff, phys: 0)) == .ok)
    }

    @Test("IOMMU-LIMITS: a full 64-bit MAP cannot overflow the byte count")
    func hugeMap() {
        let d = attached { $0.inputRange = .all; $0.maxMappedBytes = .max }
        #expect(d.status(Req.map(domain: 1, start: 0, end: .max, phys: 0)) == .range)       // MSI doorbell inside
        #expect(d.status(Req.map(domain: 1, start: 1 << 32, end: .max - 0x1000, phys: 0)) == .ok)
        #expect(d.status(Req.attach(domain: 2, endpoint: 2)) == .ok)
        // 2^64 - 1 bytes in all would not fit a byte count below maxMappedBytes = 2^64 - 1.
        #expect(d.status(Req.map(domain: 2, start: 1 << 32, end: (2 << 32) + 0xfff, phys: 0)) == .noMem)
        #expect(d.status(Req.map(domain: 2, start: 1 << 32, end: (2 << 32) - 1, phys: 0)) == .ok)
    }

    /// The spec's UNMAP examples (1)-(7), each from a blank address space.
    @Test("IOMMU-6.5: UNMAP follows the spec's examples", arguments: [
        ([], (0, 4), IOMMUStatus.ok, 0),
        ([(0, 9)], (0, 9), .ok, 0),
        ([(0, 4), (5, 9)], (0, 9), .ok, 0),
        ([(0, 9)], (0, 4), .range, 1),
        ([(0, 4), (5, 9)], (0, 4), .ok, 1),
        ([(0, 4)], (0, 9), .ok, 0),
        ([(0, 4), (10, 14)], (0, 14), .ok, 0),
    ] as [([(UInt64, UInt64)], (UInt64, UInt64), IOMMUStatus, Int)])
    func unmapExamples(maps: [(UInt64, UInt64)], unmap: (UInt64, UInt64), status: IOMMUStatus, left: Int) {
        let d = attached()
        let p = page    // example units are pages
        for (s, e) in maps { #expect(d.status(Req.map(domain: 1, start: s * p, end: (e + 1) * p - 1, phys: 0)) == .ok) }
        #expect(d.status(Req.unmap(domain: 1, start: unmap.0 * p, end: (unmap.1 + 1) * p - 1)) == status)
        #expect(d.usage.mappings == left)
    }

    @Test("IOMMU-6.5: UNMAP that would split a mapping answers RANGE and removes nothing")
    func split() {
        let d = attached()
        #expect(d.status(Req.map(domain: 1, start: 0x1000, end: 0x1fff, phys: 0)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0x2000, end: 0x3fff, phys: 0)) == .ok)
        #expect(d.status(Req.unmap(domain: 1, start: 0x1000, end: 0x2fff)) == .range)   // tail of the second
        #expect(d.status(Req.unmap(domain: 1, start: 0x1800, end: 0x3fff)) == .range)   // head of the first
        #expect(d.status(Req.unmap(domain: 1, start: 0x3000, end: 0x3fff)) == .range)
        #expect(d.usage.mappings == 2)
        #expect(!d.dma(1, 0x1000, 0x3000, .read).failed)
    }

    @Test("IOMMU-6.5: UNMAP with reserved not zero answers INVAL and removes nothing")
    func unmapReserved() {
        let d = attached()
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0)) == .ok)
        #expect(d.status(Req.unmap(domain: 1, start: 0, end: 0xfff, reserved: [0, 0, 0, 1])) == .inval)
        #expect(d.usage.mappings == 1)
    }

    @Test("IOMMU-6.5: UNMAP on a domain that does not exist answers NOENT; inverted range INVAL")
    func unmapBad() {
        let d = attached()
        #expect(d.status(Req.unmap(domain: 3, start: 0, end: 0xfff)) == .noEnt)
        #expect(d.status(Req.unmap(domain: 1, start: 0x2000, end: 0x1fff)) == .inval)
    }

    @Test("IOMMU-6.5: after UNMAP the range is refused")
    func unmapRefuses() {
        let d = attached()
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0)) == .ok)
        #expect(d.status(Req.unmap(domain: 1, start: 0, end: 0xfff)) == .ok)
        #expect(d.dma(1, 0, 1, .read).failed)
    }
}
