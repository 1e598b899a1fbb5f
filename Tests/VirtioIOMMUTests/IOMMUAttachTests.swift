// IOMMU-6.2 ATTACH and IOMMU-6.3 DETACH.
import Testing
@testable import VirtioIOMMU

@Suite struct IOMMUAttachTests {
    @Test("IOMMU-6.2: ATTACH creates the domain; two endpoints may share it")
    func attach() throws {
        let d = makeDevice()
        #expect(d.status(Req.attach(domain: 5, endpoint: 1)) == .ok)
        #expect(d.status(Req.attach(domain: 5, endpoint: 2)) == .ok)
        #expect(d.usage.domains == 1)
        #expect(d.status(Req.map(domain: 5, start: 0x10000, end: 0x10fff, phys: 0x80000)) == .ok)
        #expect(try d.dma(1, 0x10010, 4, .read).get() == [.init(address: 0x80010, length: 4)])
        #expect(try d.dma(2, 0x10010, 4, .read).get() == [.init(address: 0x80010, length: 4)])
    }

    @Test("IOMMU-6.2: ATTACH with reserved not zero answers INVAL and attaches nothing")
    func reserved() {
        let d = makeDevice()
        for i in 0..<4 {
            var res: [UInt8] = [0, 0, 0, 0]
            res[i] = 1
            #expect(d.status(Req.attach(domain: 1, endpoint: 1, reserved: res)) == .inval)
        }
        #expect(d.usage.domains == 0)
    }

    @Test("IOMMU-6.2: ATTACH with an unknown flag answers INVAL")
    func unknownFlags() {
        let d = makeDevice()
        #expect(d.status(Req.attach(domain: 1, endpoint: 1, flags: 2)) == .inval)
        #expect(d.status(Req.attach(domain: 1, endpoint: 1, flags: 1 << 31)) == .inval)
        #expect(d.usage.domains == 0)
    }

    @Test("IOMMU-6.2: ATTACH of an endpoint that does not exist answers NOENT")
    func unknownEndpoint() {
        let d = makeDevice()
        #expect(d.status(Req.attach(domain: 1, endpoint: 7)) == .noEnt)
        #expect(d.usage.domains == 0)
    }

    @Test("IOMMU-6.2: ATTACH elsewhere detaches first; the emptied domain and its mappings go")
    func reattach() {
        let d = makeDevice()
        #expect(d.status(Req.attach(domain: 1, endpoint: 1)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0)) == .ok)
        #expect(d.status(Req.attach(domain: 2, endpoint: 1)) == .ok)
        #expect(d.usage.domains == 1 && d.usage.mappings == 0 && d.usage.mappedBytes == 0)
        #expect(d.dma(1, 0, 4, .read).failed)
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0)) == .noEnt)
    }

    @Test("IOMMU-6.2: ATTACH with a bypass flag inconsistent with the domain answers INVAL")
    func bypassMismatch() {
        let d = makeDevice()
        #expect(d.status(Req.attach(domain: 1, endpoint: 1)) == .ok)
        #expect(d.status(Req.attach(domain: 1, endpoint: 2, flags: 1)) == .inval)
        #expect(d.status(Req.attach(domain: 2, endpoint: 2, flags: 1)) == .ok)
        #expect(d.status(Req.attach(domain: 2, endpoint: 1)) == .inval)
    }

    @Test("IOMMU-6.2: an endpoint whose reserved region is mapped in the domain answers UNSUPP")
    func incompatibleProperties() {
        let low = IOMMUReservedRegion(subtype: .reserved, range: IOVARange(first: 0x10000, last: 0x1ffff)!)
        let d = makeDevice(endpoints: [.init(id: 1), .init(id: 2, reservedRegions: [low])])
        #expect(d.status(Req.attach(domain: 1, endpoint: 1)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0x10000, end: 0x10fff, phys: 0)) == .ok)
        #expect(d.status(Req.attach(domain: 1, endpoint: 2)) == .unsupp)
        #expect(d.dma(2, 0x10000, 4, .read).failed)
    }

    @Test("IOMMU-LIMITS: ATTACH past maxDomains answers NOMEM and is counted")
    func maxDomains() {
        let d = makeDevice(endpoints: (1...3).map { IOMMUEndpointConfig(id: $0) }) { $0.maxDomains = 2 }
        #expect(d.status(Req.attach(domain: 1, endpoint: 1)) == .ok)
        #expect(d.status(Req.attach(domain: 2, endpoint: 2)) == .ok)
        #expect(d.status(Req.attach(domain: 3, endpoint: 3)) == .noMem)
        #expect(d.status(Req.attach(domain: 3, endpoint: 2)) == .ok)    // domain 2 ceases to exist: net zero
        #expect(d.usage.domains == 2)
        #expect(d.statistics.limitRefusals[.domains] == 1)
    }

    @Test("IOMMU-6.3: after DETACH the endpoint reaches nothing of the domain")
    func detach() {
        let d = makeDevice()
        #expect(d.status(Req.attach(domain: 1, endpoint: 1)) == .ok)
        #expect(d.status(Req.attach(domain: 1, endpoint: 2)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0)) == .ok)
        #expect(d.status(Req.detach(domain: 1, endpoint: 1, reserved: [1, 2, 3, 4, 5, 6, 7, 8])) == .ok)  // ignored
        #expect(d.dma(1, 0, 4, .read).failed)
        #expect(!d.dma(2, 0, 4, .read).failed)
        #expect(d.status(Req.detach(domain: 1, endpoint: 2)) == .ok)
        #expect(d.usage.domains == 0 && d.usage.mappings == 0)
    }

    @Test("IOMMU-6.3: DETACH of an unattached endpoint or from an unknown domain answers INVAL")
    func detachUnattached() {
        let d = makeDevice()
        #expect(d.status(Req.detach(domain: 1, endpoint: 1)) == .inval)
        #expect(d.status(Req.attach(domain: 1, endpoint: 1)) == .ok)
        #expect(d.status(Req.detach(domain: 1, endpoint: 2)) == .inval)
        #expect(d.status(Req.detach(domain: 2, endpoint: 1)) == .inval)
        #expect(d.usage.domains == 1)
    }

    @Test("IOMMU-6.3: DETACH of an endpoint that does not exist answers NOENT")
    func detachUnknownEndpoint() {
        let d = makeDevice()
        #expect(d.status(Req.attach(domain: 1, endpoint: 1)) == .ok)
        #expect(d.status(Req.detach(domain: 1, endpoint: 9)) == .noEnt)
    }
}
