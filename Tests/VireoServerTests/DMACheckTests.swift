// DMA checks (issue 6): whether a client's GPU may access guest addresses now, asked through exactly the path its
// DMA takes. A refusal is reported as any refused DMA is (ACCESS_FAIL to the frontend, or a fault on Vireo's
// virtio-iommu eventq) and counted; nothing is read or written.
import Foundation
import GuestMemory
import Testing
import VireoServer
import VireoTestSupport
import VirtioIOMMU

@Suite("DMA checks", .serialized)
struct DMACheckTests {
    @Test("frontend IOTLB: a write to a read-only IOVA and an unmapped IOVA are refused and reported; mapped reads pass")
    func throughIOTLB() throws {
        let ram = try GuestRAM()
        let readOnly = ram.allocate(0x20_0000, align: 0x20_0000)
        let unmapped = ram.allocate(0x20_0000, align: 0x20_0000, region: 1)
        let responder = try IOTLBResponder { iova in
            let block = iova & ~0x1f_ffff
            return block == unmapped ? nil : (block, 0x20_0000, block == readOnly ? 1 : 3)
        }
        defer { responder.stop() }
        let bench = try GPUTestBench(ram: ram, iotlb: responder)
        let server = try #require(bench.server)
        let before = server.counters.snapshot
        let write = try server.checkDMA(DMACheckRequest(target: .address(readOnly + 16, length: 64), access: .write)).get()
        #expect(!write.allowed && write.refusedAddress == readOnly + 16)
        #expect(try waitUntil { responder.accessFailures.contains { $0.iova == readOnly + 16 && $0.perm == 2 } })
        let read = try server.checkDMA(DMACheckRequest(target: .address(readOnly, length: 4096), access: .read)).get()
        #expect(read.allowed && read.refusal == nil)
        let missing = try server.checkDMA(DMACheckRequest(target: .address(unmapped, length: 8), access: .read)).get()
        #expect(!missing.allowed)
        #expect(responder.misses.contains(unmapped))
        let after = server.counters.snapshot
        #expect(after.iotlbAccessFailures == before.iotlbAccessFailures + 1)
        #expect(after.iotlbMissesUnanswered == before.iotlbMissesUnanswered + 1)
        // Nothing was written by the checks: the read-only block still holds what the guest put there.
        #expect(ram.read(4, at: readOnly + 16) == [0, 0, 0, 0])
    }

    @Test("Vireo's virtio-iommu: IOMMU-6.4 a write to a read-only mapping and an unmapped IOVA are refused; faults reach the eventq; a shown resource's backing is readable")
    func throughVirtioIOMMU() throws {
        let rig = try IOMMURig()
        try rig.connectIOMMU()
        rig.attachAndMap()
        try rig.setUpGPU()
        rig.driver.postEventBuffers(4)
        #expect(rig.showPicture(width: 16, height: 8, pixels: testPattern(width: 16, height: 8)).allSatisfy { $0 == 0x1100 })
        let server = try #require(rig.bench.server)
        let write = try server.checkDMA(DMACheckRequest(target: .address(IOMMURig.readOnlyIOVA, length: 4096), access: .write)).get()
        #expect(!write.allowed && write.refusedAddress == IOMMURig.readOnlyIOVA)
        let fault = try decodeFault(try #require(rig.driver.nextEvent()))
        #expect(fault.address == IOMMURig.readOnlyIOVA && fault.flags & IOMMUFaultFlags.write != 0)
        let unmapped = try server.checkDMA(DMACheckRequest(target: .address(0xdead_0000, length: 1), access: .read)).get()
        #expect(!unmapped.allowed)
        let shown = try server.checkDMA(DMACheckRequest(target: .scanout(0), access: .read)).get()
        #expect(shown.allowed && shown.checked.count == 2)   // showPicture backs the resource in two pieces
        #expect(shown.checked.allSatisfy { $0.address >= IOMMURig.highIOVA })   // IOVAs, not guest-physical
        #expect(throws: Never.self) { _ = try server.checkDMA(DMACheckRequest(target: .resource(1), access: .write)).get() }
        #expect(server.checkDMA(DMACheckRequest(target: .resource(77), access: .read))
                == .failure(.noResource("resource 77 does not exist or has no backing")))
    }

    @Test("POST /v1/clients/0/dma-check: answers, bad bodies 400, unknown client 404, no guest 503")
    func overHTTP() async throws {
        var limits = IOMMULimits()
        limits.maxMappings = 8
        let rig = try IOMMURig(limits: limits)
        try rig.connectIOMMU()
        rig.attachAndMap()
        try rig.setUpGPU()
        let server = try #require(rig.bench.server)
        try await withAPI({ server.displays }, clients: { server.clientReports() },
                          checkDMA: { server.checkDMA($0) }) { api in
            let refused = try await request(api, "POST", "/v1/clients/0/dma-check",
                                            body: Array(#"{"access":"write","address":\#(IOMMURig.readOnlyIOVA)}"#.utf8),
                                            headers: ["Content-Type": "application/json"])
            #expect(refused.status == 200)
            #expect(refused.json?["allowed"] as? Bool == false)
            #expect((refused.json?["refused_address"] as? NSNumber)?.uint64Value == IOMMURig.readOnlyIOVA)
            let allowed = try await request(api, "POST", "/v1/clients/0/dma-check",
                                            body: Array(#"{"access":"read","address":\#(IOMMURig.lowIOVA),"length":65536}"#.utf8),
                                            headers: ["Content-Type": "application/json"])
            #expect(allowed.status == 200 && allowed.json?["allowed"] as? Bool == true)
            for bad in [#"{"access":"exec","address":1}"#, #"{"access":"read"}"#, #"{"access":"read","address":1,"scanout":0}"#,
                        #"{"access":"read","address":1,"length":0}"#, #"{"access":"read","resource":1,"length":4}"#, "nope"] {
                let r = try await request(api, "POST", "/v1/clients/0/dma-check", body: Array(bad.utf8),
                                          headers: ["Content-Type": "application/json"])
                #expect(r.status == 400 && !r.error.isEmpty, "\(bad)")
            }
            let unknown = try await request(api, "POST", "/v1/clients/3/dma-check", body: Array(#"{"access":"read","address":1}"#.utf8),
                                            headers: ["Content-Type": "application/json"])
            #expect(unknown.status == 404)
            let noResource = try await request(api, "POST", "/v1/clients/0/dma-check", body: Array(#"{"access":"read","resource":9}"#.utf8),
                                               headers: ["Content-Type": "application/json"])
            #expect(noResource.status == 404)
        }
        let idle = GPUServer(config: ServerConfig(), logger: .init(label: "idle"))
        try await withAPI({ nil }, clients: { idle.clientReports() }, checkDMA: { idle.checkDMA($0) }) { api in
            let r = try await request(api, "POST", "/v1/clients/0/dma-check", body: Array(#"{"access":"read","address":1}"#.utf8),
                                      headers: ["Content-Type": "application/json"])
            #expect(r.status == 503)
        }
    }
}
