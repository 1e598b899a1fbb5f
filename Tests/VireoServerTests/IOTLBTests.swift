// The GPU behind the frontend's IOMMU (vhost-user IOTLB): every ring and buffer address is an IOVA translated
// through translations the backend asks for; permissions are enforced and refusals reported.
import Display
import Foundation
import Testing
import VhostUser
import VireoServer
import VireoSystem
import VireoTestSupport
import Wire

@Suite struct IOTLBTests {
    @Test("ACCESS_PLATFORM: misses are asked on the backend channel and the frame path works through the IOTLB")
    func framePathThroughIOTLB() throws {
        let responder = try IOTLBResponder()
        defer { responder.stop() }
        let bench = try GPUTestBench(iotlb: responder)
        #expect(bench.frontend.features & FeatureBit.accessPlatform != 0)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408))) == 0x1101)
        #expect(!responder.misses.isEmpty)
        let pixels = testPattern(width: 32, height: 16)
        try showPicture(bench, width: 32, height: 16, pixels: pixels)
        #expect(bench.server?.displays?.snapshot(0)?.pixels == pixels)
    }

    @Test("A read-only IOTLB entry refuses device writes: no response is written and ACCESS_FAIL is reported")
    func readOnlyRefusesWrites() throws {
        // Everything read-write except the 2 MiB block holding response buffers, which is read-only.
        let ram = try GuestRAM()
        let respBlock = ram.allocate(0x20_0000, align: 0x20_0000)
        let responder = try IOTLBResponder { iova in
            let block = iova & ~0x1f_ffff
            return (block, 0x20_0000, block == respBlock ? 1 : 3)
        }
        defer { responder.stop() }
        let bench = try GPUTestBench(ram: ram, iotlb: responder)
        // Put a request and its response buffer by hand: the response lands in the read-only block.
        let req = bench.ram.allocate(64)
        bench.ram.write(GPURequest.getDisplayInfo(), at: req)
        bench.ram.write([UInt8](repeating: 0xee, count: 408), at: respBlock)
        let head = bench.controlq.addChain([.init(address: req, length: 24, writable: false),
                                            .init(address: respBlock, length: 408, writable: true)])
        bench.controlq.publish(head)
        bench.controlq.notify()
        let used = try #require(bench.controlq.waitUsed())
        #expect(used.length == 0)
        #expect(bench.ram.read(4, at: respBlock) == [0xee, 0xee, 0xee, 0xee])   // nothing written
        #expect(try waitUntil { responder.accessFailures.contains { $0.iova == respBlock && $0.perm == 2 } })
        // The connection goes on.
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408))) == 0x1101)
    }

    @Test("Backing entries the IOMMU does not map are refused with ERR_INVALID_PARAMETER, nothing copied")
    func unmappedBacking() throws {
        let ram = try GuestRAM()
        let forbidden = ram.allocate(0x20_0000, align: 0x20_0000, region: 1)
        let responder = try IOTLBResponder { iova in
            let block = iova & ~0x1f_ffff
            return block == forbidden ? nil : (block, 0x20_0000, 3)
        }
        defer { responder.stop() }
        let bench = try GPUTestBench(ram: ram, iotlb: responder)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.create2D(1, format: 2, width: 4, height: 4)))) == 0x1100)
        let resp = try #require(bench.submit(GPURequest.attachBacking(1, [(forbidden, 64)]), timeout: 10))
        #expect(GPURequest.responseType(resp) == 0x1205)
        #expect(responder.misses.contains(forbidden))
    }

    @Test("Bad IOTLB messages are NACKed: size, permission, type, address outside guest memory, no ACCESS_PLATFORM")
    func badIOTLBMessages() throws {
        let responder = try IOTLBResponder()
        defer { responder.stop() }
        let bench = try GPUTestBench(iotlb: responder)
        let ok = IOTLBMessage(iova: 0x1000, size: 0x1000, userAddr: bench.ram.userAddress(of: 0x1000), perm: 3, type: .update)
        _ = try bench.frontend.request(.iotlbMsg, payload: ok.encoded)
        try expectNACK(bench, .iotlbMsg, payload: Array(ok.encoded.prefix(26)))
        var badPerm = ok; badPerm.perm = 0
        try expectNACK(bench, .iotlbMsg, payload: badPerm.encoded)
        var badType = ok; badType.type = IOTLBMessage.MessageType.miss.rawValue
        try expectNACK(bench, .iotlbMsg, payload: badType.encoded)
        var outside = ok; outside.userAddr = 0xdead_0000_0000
        try expectNACK(bench, .iotlbMsg, payload: outside.encoded)
        var spanning = ok; spanning.size = 1 << 40
        try expectNACK(bench, .iotlbMsg, payload: spanning.encoded)
        // Without ACCESS_PLATFORM the frontend has no business sending IOTLB messages.
        let plain = try GPUTestBench()
        try expectNACK(plain, .iotlbMsg, payload: ok.encoded)
    }

    @Test("Misses nobody answers fail the command after a bounded wait; the connection survives")
    func unansweredMiss() throws {
        let responder = try IOTLBResponder { _ in nil }
        defer { responder.stop() }
        let bench = try GPUTestBench(iotlb: responder)
        let start = Date()
        #expect(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408, timeout: 6) == nil)   // ring unreachable
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(try bench.frontend.request(.getFeatures, expectReply: true)?.count == 8)
    }
}

func waitUntil(timeout: TimeInterval = 5, _ predicate: () -> Bool) throws -> Bool {
    let deadline = Date() + timeout
    while Date() < deadline { if predicate() { return true }; Thread.sleep(forTimeInterval: 0.01) }
    return predicate()
}
