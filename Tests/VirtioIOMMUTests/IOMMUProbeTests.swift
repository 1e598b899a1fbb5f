// IOMMU-6.6 PROBE and IOMMU-6.7 the RESV_MEM property.
import Testing
@testable import VirtioIOMMU
import Wire

@Suite struct IOMMUProbeTests {
    @Test("IOMMU-6.6: PROBE fills probe_size bytes of properties: RESV_MEM MSI 0xfee00000-0xfeefffff, then zeros")
    func probe() throws {
        let d = makeDevice()
        let r = d.handle(request: Req.probe(endpoint: 1), writableLength: 512 + 4)
        #expect(r.status == .ok && r.response.count == 516)
        var p = WireReader(r.response)
        #expect(try p.read(UInt16.self) == 1)          // type RESV_MEM, reserved bits zero
        #expect(try p.read(UInt16.self) == 20)         // length without the header
        #expect(try p.readBytes(4) == [1, 0, 0, 0])    // subtype MSI, reserved
        #expect(try p.read(UInt64.self) == 0xfee0_0000)
        #expect(try p.read(UInt64.self) == 0xfeef_ffff)
        #expect(try p.readBytes(512 - 24).allSatisfy { $0 == 0 })
        #expect(try p.readBytes(4) == [0, 0, 0, 0])    // tail: OK
    }

    @Test("IOMMU-6.6: properties follow each other at length + 4")
    func twoProperties() throws {
        let low = IOMMUReservedRegion(subtype: .reserved, range: IOVARange(first: 0, last: 0xfff)!)
        let d = makeDevice(endpoints: [.init(id: 1, reservedRegions: [low, .x86MSIDoorbell])])
        let r = d.handle(request: Req.probe(endpoint: 1), writableLength: 516)
        #expect(Array(r.response[0..<8]) == [1, 0, 20, 0, 0, 0, 0, 0])
        #expect(Array(r.response[24..<32]) == [1, 0, 20, 0, 1, 0, 0, 0])
        #expect(r.response[48..<512].allSatisfy { $0 == 0 })
    }

    @Test("IOMMU-6.6: PROBE with too small a buffer writes no property and answers INVAL")
    func tooSmall() {
        let d = makeDevice()
        for writable in [4, 28, 515] {
            let r = d.handle(request: Req.probe(endpoint: 1), writableLength: writable)
            #expect(r.status == .inval)
            #expect(r.response.dropLast(4).allSatisfy { $0 == 0 })
            #expect(r.response.suffix(4) == [IOMMUStatus.inval.rawValue, 0, 0, 0])
        }
    }

    @Test("IOMMU-6.6: PROBE of an endpoint that does not exist answers NOENT; reserved is ignored")
    func endpoints() {
        let d = makeDevice()
        #expect(d.status(Req.probe(endpoint: 3), writable: 516) == .noEnt)
        #expect(d.status(Req.probe(endpoint: 2, reserved: .init(repeating: 0xff, count: 64)), writable: 516) == .ok)
    }

    @Test("IOMMU-6.6: PROBE without F_PROBE negotiated is returned unwritten")
    func notNegotiated() {
        let d = makeDevice(features: allFeatures & ~IOMMUFeatures.probe)
        let r = d.handle(request: Req.probe(endpoint: 1), writableLength: 516)
        #expect(r.response.isEmpty && r.status == nil)
    }

    @Test("IOMMU-6.7: MAP touching a reserved region answers RANGE")
    func mapReserved() {
        let d = makeDevice()
        #expect(d.status(Req.attach(domain: 1, endpoint: 1)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0xfee0_0000, end: 0xfee0_0fff, phys: 0)) == .range)
        #expect(d.status(Req.map(domain: 1, start: 0xfed0_0000, end: 0xfee0_0fff, phys: 0)) == .range)
        #expect(d.status(Req.map(domain: 1, start: 0xfeef_f000, end: 0xfef0_0fff, phys: 0)) == .range)
        #expect(d.status(Req.map(domain: 1, start: 0xfef0_0000, end: 0xfef0_0fff, phys: 0)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0xfed0_0000, end: 0xfedf_ffff, phys: 0)) == .ok)
        #expect(d.usage.mappings == 2)
    }

    @Test("IOMMU-6.7: a bypassing endpoint still cannot reach its reserved region")
    func bypassReserved() {
        let d = makeDevice()
        d.writeConfig(offset: 36, bytes: [1])
        #expect(!d.dma(1, 0xfed0_0000, 16, .write).failed)
        #expect(d.dma(1, 0xfedf_fff0, 32, .write).failed)
        #expect(d.takeFaults().first?.address == 0xfee0_0000)
    }
}
