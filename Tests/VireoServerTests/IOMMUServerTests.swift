// The GPU behind Vireo's own virtio-iommu, over real sockets: one client's GPU connection and IOMMU connection
// share guest RAM; a test driver plays the guest's virtio-iommu driver (ATTACH, MAP, UNMAP, eventq buffers) and the
// GPU driver uses IOVAs that differ from guest-physical addresses, so identity translation would fail.
import Display
import Foundation
import Glibc
import Logging
import Testing
import VhostUser
import VireoServer
import VireoSystem
import VireoTestSupport
import VirtioIOMMU
import Wire

/// A GPU bench and an IOMMU driver for the same client.
final class IOMMURig: @unchecked Sendable {
    static let endpoint: UInt32 = 7
    static let domain: UInt32 = 1
    /// Region 0 (GPA 0...) appears at this IOVA, region 1 (GPA 0x1_0000_0000...) at `highIOVA`.
    static let lowIOVA: UInt64 = 0x4000_0000, highIOVA: UInt64 = 0x8000_0000
    static let lowSize: UInt64 = 4 << 20, highSize: UInt64 = 1 << 20
    /// A read-only alias of one page of region 0.
    static let readOnlyIOVA: UInt64 = 0x9000_0000

    let ram: GuestRAM
    let client: ClientContext
    let bench: GPUTestBench
    var driver: IOMMUGuestDriver!
    let readOnlyPage: UInt64

    init(limits: IOMMULimits = IOMMULimits()) throws {
        ram = try GuestRAM()
        var logger = Logger(label: "vireo-test")
        logger.logLevel = ProcessInfo.processInfo.environment["VIREO_TEST_LOG"] != nil ? .debug : .critical
        client = try ClientContext(endpoint: Self.endpoint, limits: limits, logger: logger)
        bench = try GPUTestBench(ram: ram, setup: false, client: client)
        readOnlyPage = ram.allocate(4096)
    }

    static func iova(_ gpa: UInt64) -> UInt64 {
        gpa >= 0x1_0000_0000 ? highIOVA + (gpa - 0x1_0000_0000) : lowIOVA + gpa
    }

    func connectIOMMU(setup: Bool = true) throws {
        let (ours, theirs) = try UnixSocket.pair()
        let server = try #require(bench.server)
        Thread { server.serveIOMMU(socket: theirs) }.start()
        driver = try IOMMUGuestDriver(socket: ours, ram: ram, setup: setup)
    }

    /// The GPU frontend, as QEMU: features, its own memory table, rings at IOVAs.
    func setUpGPU() throws {
        try bench.frontend.negotiate()
        try bench.frontend.setMemTable(ram)
        try bench.frontend.setupRing(0, bench.controlq, ram: ram, deviceAddress: Self.iova)
        try bench.frontend.setupRing(1, bench.cursorq, ram: ram, deviceAddress: Self.iova)
    }

    /// The guest's IOMMU driver: endpoint into domain 1, rings/requests and backing RW, one page read-only.
    func attachAndMap() {
        #expect(driver.attach(domain: Self.domain, endpoint: Self.endpoint) == 0)
        #expect(driver.map(domain: Self.domain, iova: Self.lowIOVA, phys: 0, size: Self.lowSize, flags: 3) == 0)
        #expect(driver.map(domain: Self.domain, iova: Self.highIOVA, phys: 0x1_0000_0000, size: Self.highSize,
                           flags: 3) == 0)
        #expect(driver.map(domain: Self.domain, iova: Self.readOnlyIOVA, phys: readOnlyPage, size: 4096, flags: 1) == 0)
    }

    /// Queues one GPU command with IOVA descriptors; returns where the response lands (guest-physical).
    func post(_ request: [UInt8], responseSize: Int = 24, responseIOVA: UInt64? = nil) -> UInt64 {
        let req = ram.allocate(UInt64(request.count), align: 8)
        ram.write(request, at: req)
        let resp = ram.allocate(UInt64(responseSize), align: 8)
        ram.write([UInt8](repeating: 0xee, count: responseSize), at: resp)
        let head = bench.controlq.addChain([
            .init(address: Self.iova(req), length: UInt32(request.count), writable: false),
            .init(address: responseIOVA ?? Self.iova(resp), length: UInt32(responseSize), writable: true),
        ])
        bench.controlq.publish(head)
        bench.controlq.notify()
        return resp
    }

    /// One command and its response (nil: not used within `timeout`).
    func submit(_ request: [UInt8], responseSize: Int = 24, timeout: TimeInterval = 5) -> [UInt8]? {
        let resp = post(request, responseSize: responseSize)
        guard let used = bench.controlq.waitUsed(timeout: timeout) else { return nil }
        return ram.read(Int(used.length), at: resp)
    }

    /// Creates, backs (at IOVAs in region 1), transfers, shows and flushes a picture; returns the response types.
    func showPicture(width: UInt32, height: UInt32, pixels: [UInt8]) -> [UInt32?] {
        let full = Rect(x: 0, y: 0, width: width, height: height)
        let backing = bench.backing(pixels, pieces: 2, region: 1).map { (address: Self.iova($0.address), length: $0.length) }
        return [GPURequest.create2D(1, format: 2, width: width, height: height), GPURequest.attachBacking(1, backing),
                GPURequest.transfer(1, full), GPURequest.setScanout(0, 1, full), GPURequest.flush(1, full)]
            .map { submit($0).flatMap(GPURequest.responseType) }
    }
}

/// `virtio_iommu_fault`: reason, flags, endpoint, address.
func decodeFault(_ bytes: [UInt8]) throws -> (reason: UInt8, flags: UInt32, endpoint: UInt32, address: UInt64) {
    var r = WireReader(bytes)
    let reason: UInt8 = try r.read()
    try r.skip(3)
    let flags: UInt32 = try r.read(), endpoint: UInt32 = try r.read()
    try r.skip(4)
    return (reason, flags, endpoint, try r.read())
}

@Suite struct IOMMUServerTests {
    @Test("IOMMU-1/IOMMU-2: the IOMMU socket offers virtio-iommu features, 2 queues and virtio_iommu_config")
    func identity() throws {
        let rig = try IOMMURig()
        try rig.connectIOMMU(setup: false)
        let f = rig.driver.frontend
        var r = WireReader(try #require(try f.request(.getFeatures, expectReply: true)))
        let features: UInt64 = try r.read()
        #expect(features & IOMMUFeatures.offered == IOMMUFeatures.offered)
        #expect(features & FeatureBit.version1 != 0)
        #expect(features & FeatureBit.accessPlatform == 0)    // an IOMMU is not behind itself
        var q = WireReader(try #require(try f.request(.getQueueNum, expectReply: true)))
        #expect(try q.read(UInt64.self) == 2)                   // requestq 0, eventq 1
        try f.negotiate()
        var c = WireReader(try f.getConfig(offset: 0, size: 40))
        #expect(try c.read(UInt64.self) == ~UInt64(0xfff))     // page_size_mask
        #expect(try c.read(UInt64.self) == 0)                   // input_range.start
        #expect(try c.read(UInt64.self) == (1 << 48) - 1)       // input_range.end
        #expect(try c.read(UInt32.self) == 0)                   // domain_range.start
        #expect(try c.read(UInt32.self) == 0xffff)              // domain_range.end
        #expect(try c.read(UInt32.self) == 512)                 // probe_size
        #expect(try c.read(UInt8.self) == 0)                    // bypass
        // Nothing past the 40-byte config space: an empty config answers.
        #expect(try f.getConfig(offset: 36, size: 8).isEmpty)
    }

    @Test("IOMMU-5.1: before ATTACH the GPU's rings are unreachable (the command waits, DOMAIN faults reach the eventq); after ATTACH+MAP it completes at IOVAs")
    func unattachedEndpointHasNoDMA() throws {
        let rig = try IOMMURig()
        try rig.setUpGPU()
        try rig.connectIOMMU()
        let resp = rig.post(GPURequest.getDisplayInfo(), responseSize: 408)
        #expect(rig.bench.controlq.waitUsed(timeout: 1) == nil)        // no DMA: the queue waits
        rig.driver.postEventBuffers(4)
        let fault = try decodeFault(try #require(rig.driver.nextEvent()))
        #expect(fault.reason == 1)                                       // VIRTIO_IOMMU_FAULT_R_DOMAIN
        #expect(fault.flags == IOMMUFaultFlags.read | IOMMUFaultFlags.address)
        #expect(fault.endpoint == IOMMURig.endpoint)
        let availIdx = [rig.bench.controlq.avail, rig.bench.cursorq.avail].map { IOMMURig.iova($0) + 2 }
        #expect(availIdx.contains(fault.address))
        rig.attachAndMap()
        // The mappings wake the GPU connection: the waiting command completes without another kick.
        let used = try #require(rig.bench.controlq.waitUsed(timeout: 5))
        #expect(used.length == 408)
        #expect(GPURequest.responseType(rig.ram.read(24, at: resp)) == 0x1101)
    }

    @Test("IOMMU-5.1: the frame path works through the endpoint's domain, IOMMU connected first or second",
          arguments: [true, false])
    func framePathThroughIOMMU(iommuFirst: Bool) throws {
        let rig = try IOMMURig()
        if iommuFirst {
            try rig.connectIOMMU()
            rig.attachAndMap()
            try rig.setUpGPU()
        } else {
            try rig.setUpGPU()
            try rig.connectIOMMU()
            rig.attachAndMap()
        }
        let pixels = testPattern(width: 32, height: 24)
        #expect(rig.showPicture(width: 32, height: 24, pixels: pixels) == Array(repeating: okNoData, count: 5))
        let frame = try #require(rig.bench.server?.displays?.snapshot(0))
        #expect(frame.pixels == pixels)
    }

    @Test("IOMMU-6.8: a GPU write into a read-only mapping is refused and its fault arrives on the eventq")
    func writeToReadOnlyMappingFaults() throws {
        let rig = try IOMMURig()
        try rig.connectIOMMU()
        rig.attachAndMap()
        try rig.setUpGPU()
        rig.driver.postEventBuffers(4)
        _ = rig.post(GPURequest.getDisplayInfo(), responseSize: 408, responseIOVA: IOMMURig.readOnlyIOVA)
        let used = try #require(rig.bench.controlq.waitUsed(timeout: 5))
        #expect(used.length == 0)                                        // nothing written
        #expect(rig.ram.read(4, at: rig.readOnlyPage) == [0, 0, 0, 0])   // the page is untouched
        let fault = try decodeFault(try #require(rig.driver.nextEvent()))
        #expect(fault.reason == 2)                                       // VIRTIO_IOMMU_FAULT_R_MAPPING
        #expect(fault.flags == IOMMUFaultFlags.write | IOMMUFaultFlags.address)
        #expect(fault.endpoint == IOMMURig.endpoint)
        #expect(fault.address == IOMMURig.readOnlyIOVA)
        // The device goes on: the next command with a writable response works.
        #expect(rig.submit(GPURequest.getDisplayInfo(), responseSize: 408).flatMap(GPURequest.responseType) == 0x1101)
    }

    @Test("IOMMU-6.5: after UNMAP of the framebuffer's backing, TRANSFER answers ERR_INVALID_PARAMETER")
    func unmapBackingFailsTransfer() throws {
        let rig = try IOMMURig()
        try rig.connectIOMMU()
        rig.attachAndMap()
        try rig.setUpGPU()
        #expect(rig.showPicture(width: 32, height: 24, pixels: testPattern(width: 32, height: 24))
                == Array(repeating: okNoData, count: 5))
        #expect(rig.driver.unmap(domain: IOMMURig.domain, iova: IOMMURig.highIOVA, size: IOMMURig.highSize) == 0)
        let full = Rect(x: 0, y: 0, width: 32, height: 24)
        #expect(rig.submit(GPURequest.transfer(1, full)).flatMap(GPURequest.responseType) == 0x1205)
    }

    @Test("IOMMU-2: bad vhost-user input on the IOMMU socket is NACKed with REPLY_ACK")
    func badInputIsNACKed() throws {
        let rig = try IOMMURig()
        try rig.connectIOMMU(setup: false)
        let f = rig.driver.frontend
        try f.negotiate()
        #expect(throws: VhostUserFrontend.Failure.self) {   // not a power of two
            try f.request(.setVringNum, payload: VringState(index: 0, num: 3).encoded)
        }
        #expect(throws: VhostUserFrontend.Failure.self) {   // vring 2: the IOMMU has two queues
            try f.request(.setVringNum, payload: VringState(index: 2, num: 16).encoded)
        }
        #expect(throws: VhostUserFrontend.Failure.self) {   // a GPU-only request
            try f.request(.gpuSetSocket, fds: [try EventFD.make()])
        }
        #expect(throws: VhostUserFrontend.Failure.self) {   // a feature never offered
            try f.request(.setFeatures, payload: f.u64(FeatureBit.version1 | 1 << 23))
        }
        #expect(try f.request(.getFeatures, expectReply: true)?.count == 8)   // still serving
    }

    @Test("IOMMU-2: without REPLY_ACK, bad input closes the IOMMU connection; the GPU connection is unaffected")
    func badInputCloses() throws {
        let rig = try IOMMURig()
        try rig.setUpGPU()
        try rig.connectIOMMU(setup: false)
        let f = rig.driver.frontend
        try f.negotiate(withoutProtocolFeatures: VhostUserProtocolFeature.replyAck.mask)
        _ = try f.request(.setVringNum, payload: VringState(index: 5, num: 16).encoded)
        #expect(f.backendClosed())
        #expect(!rig.bench.connectionEnded)
    }

    @Test("IOMMU-6.8: faults wait for eventq buffers; a buffer smaller than a fault report comes back unused")
    func faultsWaitForBuffers() throws {
        let rig = try IOMMURig()
        try rig.connectIOMMU()
        try rig.setUpGPU()                                  // unattached: the rings' first accesses fault
        _ = rig.post(GPURequest.getDisplayInfo(), responseSize: 408)
        #expect(try waitUntil { rig.client.iommu.pendingFaultCount > 0 })   // no buffer yet: kept, not lost
        rig.driver.postEventBuffers(1, size: 16)
        let small = try #require(rig.driver.eventq.waitUsed(timeout: 5))
        #expect(small.length == 0)
        rig.driver.postEventBuffers(1)
        let fault = try decodeFault(try #require(rig.driver.nextEvent()))
        #expect(fault.reason == 1 && fault.endpoint == IOMMURig.endpoint)
    }

    @Test("IOMMU-5.1: when the IOMMU connection ends the endpoint is detached and the GPU's DMA waits for a new driver")
    func iommuDisconnectDetaches() throws {
        let rig = try IOMMURig()
        try rig.connectIOMMU()
        rig.attachAndMap()
        try rig.setUpGPU()
        #expect(rig.submit(GPURequest.getDisplayInfo(), responseSize: 408).flatMap(GPURequest.responseType) == 0x1101)
        _ = Glibc.shutdown(rig.driver.frontend.channel.socket.rawValue, Int32(SHUT_RDWR))
        #expect(try waitUntil { rig.client.iommu.usage.domains == 0 && rig.client.iommu.usage.mappings == 0 })
        #expect(!rig.bench.connectionEnded)                 // the GPU connection stays
        let resp = rig.post(GPURequest.getDisplayInfo(), responseSize: 408)
        #expect(rig.bench.controlq.waitUsed(timeout: 1) == nil)
        try rig.connectIOMMU()                              // a new frontend connection, a new driver
        rig.attachAndMap()
        #expect(try #require(rig.bench.controlq.waitUsed(timeout: 5)).length == 408)
        #expect(GPURequest.responseType(rig.ram.read(24, at: resp)) == 0x1101)
    }

    @Test("IOMMU-5.1: with Vireo's own IOMMU the frontend's IOTLB is refused (the guest programs Vireo's IOMMU)")
    func frontendIOTLBRefused() throws {
        let rig = try IOMMURig()
        rig.bench.frontend.acceptIOMMUPlatform = true
        try rig.setUpGPU()
        let update = IOTLBMessage(iova: IOMMURig.lowIOVA, size: 4096, userAddr: rig.ram.userAddress(of: 0), perm: 3,
                                  type: .update)
        #expect(throws: VhostUserFrontend.Failure.self) { try rig.bench.frontend.request(.iotlbMsg, payload: update.encoded) }
        #expect(rig.bench.controlq.waitUsed(timeout: 0.2) == nil)
        let resp = rig.post(GPURequest.getDisplayInfo(), responseSize: 408)
        #expect(rig.bench.controlq.waitUsed(timeout: 1) == nil)   // not translated by the IOTLB: still unattached
        try rig.connectIOMMU()
        rig.attachAndMap()
        #expect(try #require(rig.bench.controlq.waitUsed(timeout: 5)).length == 408)
        #expect(GPURequest.responseType(rig.ram.read(24, at: resp)) == 0x1101)
    }
}
