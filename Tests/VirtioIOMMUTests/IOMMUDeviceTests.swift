// IOMMU-1..5 and IOMMU-6.1: identity, queues, features, config space, bypass, requests in general.
import Testing
@testable import VirtioIOMMU
import Wire

@Suite struct IOMMUDeviceTests {
    @Test("IOMMU-1: device ID is 23")
    func deviceID() { #expect(IOMMUDevice.deviceID == 23) }

    @Test("IOMMU-2: requestq is queue 0, eventq queue 1")
    func queues() {
        #expect(IOMMUConstants.requestQueue == 0 && IOMMUConstants.eventQueue == 1 && IOMMUConstants.queueCount == 2)
    }

    @Test("IOMMU-3: offers every implemented feature, never the legacy BYPASS with BYPASS_CONFIG")
    func features() {
        let f = IOMMUDevice.offeredFeatures
        #expect(f == 0b111_0111)
        #expect(f & IOMMUFeatures.bypass == 0)
        let d = makeDevice(features: .max)
        #expect(d.negotiatedFeatures == f)
    }

    @Test("IOMMU-4: config layout: page_size_mask, input_range, domain_range, probe_size, bypass, reserved")
    func configLayout() throws {
        let d = makeDevice()
        let c = d.configSpace
        #expect(c.count == 40)
        var r = WireReader(c)
        #expect(try r.read(UInt64.self) == ~UInt64(0xfff))
        #expect(try r.read(UInt64.self) == 0)
        #expect(try r.read(UInt64.self) == (1 << 40) - 1)
        #expect(try r.read(UInt32.self) == 1)
        #expect(try r.read(UInt32.self) == 100)
        #expect(try r.read(UInt32.self) == 512)
        #expect(r.readRemaining() == [0, 0, 0, 0])
    }

    @Test("IOMMU-4: only bypass is writable, only with BYPASS_CONFIG negotiated, only 0 or 1")
    func configWrites() {
        let without = makeDevice(features: allFeatures & ~IOMMUFeatures.bypassConfig)
        without.writeConfig(offset: 36, bytes: [1])
        #expect(without.configSpace[36] == 0)
        let d = makeDevice()
        let before = d.configSpace
        d.writeConfig(offset: 0, bytes: [UInt8](repeating: 0xaa, count: 36))
        #expect(d.configSpace == before)
        d.writeConfig(offset: 36, bytes: [0xff])
        #expect(d.configSpace[36] == 1)
        d.writeConfig(offset: 36, bytes: [0x02])
        #expect(d.configSpace[36] == 0)
        d.writeConfig(offset: 36, bytes: [1, 9, 9, 9])     // reserved bytes stay zero
        #expect(Array(d.configSpace[36...]) == [1, 0, 0, 0])
    }

    @Test("IOMMU-4: bypass survives device reset, not system reset")
    func bypassReset() {
        let d = makeDevice()
        d.writeConfig(offset: 36, bytes: [1])
        d.reset()
        #expect(d.configSpace[36] == 1)
        d.systemReset()
        #expect(d.configSpace[36] == 0)
    }

    @Test("IOMMU-5.1: an unattached endpoint gets no DMA without BYPASS_CONFIG negotiated")
    func noBypassWithoutFeature() {
        let d = makeDevice(features: allFeatures & ~IOMMUFeatures.bypassConfig)
        d.writeConfig(offset: 36, bytes: [1])              // ignored
        #expect(d.dma(1, 0x1000, 16, .read).failed)
        #expect(d.dma(1, 0x1000, 16, .write).failed)
        #expect(d.takeFaults().map(\.reason) == [.domain, .domain])
    }

    @Test("IOMMU-5.1: bypass 0 refuses, bypass 1 with the feature is identity; a reset's renegotiation ends it")
    func bypassConfig() throws {
        let d = makeDevice()
        #expect(d.configSpace[36] == 0)                    // initial bypass: 0
        #expect(d.dma(1, 0x5000, 16, .read).failed)
        d.writeConfig(offset: 36, bytes: [1])
        #expect(try d.dma(1, 0x5000, 16, .read).get() == [.init(address: 0x5000, length: 16)])
        d.reset()                                          // bypass stays 1, but the features are gone
        d.setNegotiatedFeatures(allFeatures & ~IOMMUFeatures.bypassConfig)
        #expect(d.dma(1, 0x5000, 16, .read).failed)
    }

    @Test("IOMMU-5.1: ATTACH_F_BYPASS is an unknown flag without BYPASS_CONFIG")
    func bypassDomainNeedsFeature() {
        let d = makeDevice(features: allFeatures & ~IOMMUFeatures.bypassConfig)
        #expect(d.status(Req.attach(domain: 1, endpoint: 1, flags: 1)) == .inval)
        #expect(d.dma(1, 0x5000, 16, .read).failed)
        let e = makeDevice()
        #expect(e.status(Req.attach(domain: 1, endpoint: 1, flags: 1)) == .ok)
        #expect(e.dma(1, 0x5000, 16, .write).map { $0.count } == .success(1))
    }

    @Test("IOMMU-6.1: OK status, tail reserved zero, tail at the end of the writable part")
    func tailFormat() {
        let d = makeDevice()
        let r = d.handle(request: Req.attach(domain: 1, endpoint: 1), writableLength: 4)
        #expect(r.response == [0, 0, 0, 0] && r.status == .ok)
        let big = d.handle(request: Req.detach(domain: 9, endpoint: 1), writableLength: 12)
        #expect(big.response == [0, 0, 0, 0, 0, 0, 0, 0, IOMMUStatus.inval.rawValue, 0, 0, 0])
    }

    @Test("IOMMU-6.1: unknown request types are returned unwritten (used length 0)")
    func unknownType() {
        let d = makeDevice()
        for t: UInt8 in [0, 6, 0x7f, 0xff] {
            var req = Req.attach(domain: 1, endpoint: 1)
            req[0] = t
            let r = d.handle(request: req, writableLength: 4)
            #expect(r.response.isEmpty && r.status == nil)
        }
        #expect(d.statistics.unansweredRequests == 4)
        #expect(d.usage.domains == 0)
    }

    @Test("IOMMU-6.1: no head or no room for the tail: returned unwritten")
    func unparseable() {
        let d = makeDevice()
        for n in 0..<4 { #expect(d.handle(request: Array(Req.attach(domain: 1, endpoint: 1)[..<n]), writableLength: 4).response.isEmpty) }
        for w in [0, 3, -1, 1 << 20] { #expect(d.handle(request: Req.attach(domain: 1, endpoint: 1), writableLength: w).response.isEmpty) }
        #expect(d.usage.domains == 0)
    }

    @Test("IOMMU-6.1: requests shorter than their struct are refused with INVAL and change nothing",
          arguments: [Req.attach(domain: 1, endpoint: 1), Req.detach(domain: 1, endpoint: 1),
                      Req.map(domain: 1, start: 0x1000, end: 0x1fff, phys: 0x1000),
                      Req.unmap(domain: 1, start: 0, end: 0xfff), Req.probe(endpoint: 1)])
    func shortRequests(request: [UInt8]) {
        let d = makeDevice()
        #expect(d.status(Req.attach(domain: 1, endpoint: 1)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0)) == .ok)
        let writable = request[0] == 5 ? 516 : 4
        for n in 4..<request.count {
            #expect(d.status(Array(request[..<n]), writable: writable) == .inval)
        }
        #expect(d.usage.mappings == 1 && d.usage.domains == 1)
        #expect(d.status(request, writable: writable) == .ok)
    }

    @Test("IOMMU-6.1: the head's reserved bytes are ignored")
    func headReservedIgnored() {
        let d = makeDevice()
        var req = Req.attach(domain: 1, endpoint: 1)
        req[1] = 0xff; req[2] = 1; req[3] = 7
        #expect(d.status(req) == .ok)
    }

    @Test("IOMMU-6.1: MAP and UNMAP without MAP_UNMAP negotiated answer UNSUPP")
    func mapUnmapNotNegotiated() {
        let d = makeDevice(features: allFeatures & ~IOMMUFeatures.mapUnmap)
        #expect(d.status(Req.attach(domain: 1, endpoint: 1)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 0, end: 0xfff, phys: 0)) == .unsupp)
        #expect(d.status(Req.unmap(domain: 1, start: 0, end: 0xfff)) == .unsupp)
        #expect(d.usage.mappings == 0)
    }

    @Test("IOMMU-6.1: domain ids outside domain_range answer RANGE, endpoint ids not managed NOENT")
    func idRanges() {
        let d = makeDevice()
        #expect(d.status(Req.attach(domain: 0, endpoint: 1)) == .range)
        #expect(d.status(Req.attach(domain: 101, endpoint: 1)) == .range)
        #expect(d.status(Req.attach(domain: 1, endpoint: 3)) == .noEnt)
        #expect(d.status(Req.detach(domain: 101, endpoint: 1)) == .range)
        #expect(d.status(Req.map(domain: 0, start: 0, end: 0xfff, phys: 0)) == .range)
        #expect(d.status(Req.unmap(domain: .max, start: 0, end: 0xfff)) == .range)
        #expect(d.usage.domains == 0)
    }

    @Test("IOMMU-6.1: MAP outside input_range answers RANGE and is counted")
    func inputRange() {
        let d = makeDevice()
        #expect(d.status(Req.attach(domain: 1, endpoint: 1)) == .ok)
        #expect(d.status(Req.map(domain: 1, start: 1 << 40, end: (1 << 40) + 0xfff, phys: 0)) == .range)
        #expect(d.status(Req.map(domain: 1, start: (1 << 40) - 0x1000, end: (1 << 40) + 0xfff, phys: 0)) == .range)
        #expect(d.status(Req.map(domain: 1, start: (1 << 40) - 0x1000, end: (1 << 40) - 1, phys: 0)) == .ok)
        #expect(d.statistics.limitRefusals[.inputRange] == 2)
    }
}
