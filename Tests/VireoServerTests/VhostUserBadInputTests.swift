// Bad input from a hypervisor: every case gets a NACK where REPLY_ACK is negotiated (the connection keeps
// working), or a closed connection otherwise, and never a crash of the process.
import Display
import Foundation
import GuestMemory
import Testing
import VhostUser
import VireoServer
import VireoSystem
import VireoTestSupport
import Wire

/// Expects the request to be NACKed and the connection to keep answering.
func expectNACK(_ bench: GPUTestBench, _ r: VhostUserRequest, payload: [UInt8] = [], fds: [OwnedFD] = [],
                sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(throws: VhostUserFrontend.Failure.self, sourceLocation: sourceLocation) {
        _ = try bench.frontend.request(r, payload: payload, fds: fds)
    }
    // Still alive: a request with a reply is answered.
    let features = try bench.frontend.request(.getFeatures, expectReply: true)
    #expect(features?.count == 8, sourceLocation: sourceLocation)
}

func ramLayout(_ gpa: UInt64, _ size: UInt64, _ uaddr: UInt64, _ off: UInt64 = 0) -> VhostUserMemoryRegion {
    VhostUserMemoryRegion(guestPhysAddr: gpa, memorySize: size, userspaceAddr: uaddr, mmapOffset: off)
}

@Suite struct VhostUserBadInputTests {
    @Test("Wrong payload sizes are NACKed")
    func badSizes() throws {
        let bench = try GPUTestBench()
        try expectNACK(bench, .setFeatures, payload: [1, 2, 3])
        try expectNACK(bench, .setVringNum, payload: [0, 0, 0, 0])
        try expectNACK(bench, .setVringAddr, payload: [UInt8](repeating: 0, count: 39))
        try expectNACK(bench, .setOwner, payload: [0])
    }

    @Test("Wrong fd counts are NACKed and the extra descriptors are closed")
    func badFDCounts() throws {
        let bench = try GPUTestBench()
        try expectNACK(bench, .setOwner, fds: [try EventFD.make()])
        try expectNACK(bench, .setVringKick, payload: bench.frontend.u64(0))   // no fd, NOFD bit clear
        try expectNACK(bench, .setVringCall, payload: bench.frontend.u64(0x100), fds: [try EventFD.make()])
        let table = VhostUserMemory(regions: bench.ram.vhostRegions)
        try expectNACK(bench, .setMemTable, payload: table.encoded, fds: [try bench.ram.regions[0].fd.duplicate()])
    }

    @Test("Overlapping, empty, wrapping and too many regions are NACKed; the old table stays")
    func badMemoryTables() throws {
        let bench = try GPUTestBench()
        let fd = { try bench.ram.regions[0].fd.duplicate() }
        let overlapping = VhostUserMemory(regions: [ramLayout(0, 0x10000, 0x1000_0000), ramLayout(0x8000, 0x10000, 0x2000_0000)])
        try expectNACK(bench, .setMemTable, payload: overlapping.encoded, fds: [try fd(), try fd()])
        let userOverlap = VhostUserMemory(regions: [ramLayout(0, 0x10000, 0x1000_0000), ramLayout(0x100000, 0x10000, 0x1000_8000)])
        try expectNACK(bench, .setMemTable, payload: userOverlap.encoded, fds: [try fd(), try fd()])
        let empty = VhostUserMemory(regions: [ramLayout(0, 0, 0x1000_0000)])
        try expectNACK(bench, .setMemTable, payload: empty.encoded, fds: [try fd()])
        let wrapping = VhostUserMemory(regions: [ramLayout(UInt64.max - 0xfff, 0x2000, 0x1000_0000)])
        try expectNACK(bench, .setMemTable, payload: wrapping.encoded, fds: [try fd()])
        var tooMany = WireWriter()
        tooMany.write(UInt32(9)); tooMany.write(UInt32(0))
        for i in 0..<9 { ramLayout(UInt64(i) << 20, 0x1000, 0x1000_0000 + (UInt64(i) << 20)).encode(into: &tooMany) }
        try expectNACK(bench, .setMemTable, payload: tooMany.bytes, fds: [])
        // A region larger than its file would fault on access: refused before mapping.
        let pastFile = VhostUserMemory(regions: [ramLayout(0, 1 << 40, 0x1000_0000)])
        try expectNACK(bench, .setMemTable, payload: pastFile.encoded, fds: [try fd()])
        // The device still works on the old table.
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408))) == 0x1101)
    }

    @Test("Vring numbers that are zero, not a power of two or too big, and bad indices are NACKed")
    func badVrings() throws {
        let bench = try GPUTestBench()
        for n: UInt32 in [0, 3, 65536, 1 << 20] {
            try expectNACK(bench, .setVringNum, payload: VringState(index: 0, num: n).encoded)
        }
        try expectNACK(bench, .setVringNum, payload: VringState(index: 2, num: 64).encoded)
        try expectNACK(bench, .setVringBase, payload: VringState(index: 7, num: 0).encoded)
        try expectNACK(bench, .getVringBase, payload: VringState(index: 2, num: 0).encoded)
        try expectNACK(bench, .setVringEnable, payload: VringState(index: 0, num: 2).encoded)
        try expectNACK(bench, .setVringKick, payload: bench.frontend.u64(5), fds: [try EventFD.make()])
        try expectNACK(bench, .setVringCall, payload: bench.frontend.u64(0x200), fds: [try EventFD.make()])
    }

    @Test("Ring addresses outside the memory table are NACKed")
    func unmappedRingAddresses() throws {
        let bench = try GPUTestBench()
        let bad = VringAddr(index: 0, flags: 0, descUserAddr: 0xdead_0000_0000, usedUserAddr: 0, availUserAddr: 0,
                            logGuestAddr: 0)
        try expectNACK(bench, .setVringAddr, payload: bad.encoded)
        // A ring whose end runs past its region: accepted address, refused when the ring starts.
        let ram = bench.ram
        let lastPage = ram.regions[0].layout.userspaceAddr + ram.regions[0].layout.memorySize - 16
        let tail = VringAddr(index: 1, flags: 0, descUserAddr: lastPage, usedUserAddr: lastPage, availUserAddr: lastPage,
                             logGuestAddr: 0)
        _ = try bench.frontend.request(.getVringBase, payload: VringState(index: 1, num: 0).encoded, expectReply: true)
        _ = try bench.frontend.request(.setVringAddr, payload: tail.encoded)
        try expectNACK(bench, .setVringKick, payload: bench.frontend.u64(1), fds: [try EventFD.make()])
    }

    @Test("Unknown requests and unsupported ones are NACKed")
    func unknownRequests() throws {
        let bench = try GPUTestBench()
        try bench.frontend.channel.send(request: 999, flags: VhostUserHeader.needReplyFlag, payload: [])
        let reply = try #require(bench.frontend.receiveReply())
        var r = WireReader(reply.payload)
        #expect(try r.read(UInt64.self) != 0)
        try expectNACK(bench, .setLogBase, payload: [UInt8](repeating: 0, count: 16))
        try expectNACK(bench, .setFeatures, payload: bench.frontend.u64(1 << 0))   // F_VIRGL: never offered (GPU2D-3)
    }

    @Test("Without REPLY_ACK a bad message closes that connection only; the server accepts the next")
    func closeWithoutReplyAck() throws {
        let bench = try GPUTestBench(withoutProtocolFeatures: VhostUserProtocolFeature.replyAck.mask)
        try bench.frontend.channel.send(request: VhostUserRequest.setVringNum.rawValue, payload: VringState(index: 0, num: 3).encoded)
        #expect(bench.waitConnectionEnded())
        // A new connection on the same server works.
        let (ours, theirs) = try UnixSocket.pair()
        Thread { bench.server!.serve(socket: theirs) }.start()
        let frontend = VhostUserFrontend(socket: ours)
        try frontend.negotiate()
        #expect(frontend.features & FeatureBit.version1 != 0)
    }

    @Test("Bad framing (version, oversized payload, garbage) closes the connection")
    func badFraming() throws {
        for (flags, size) in [(UInt32(0x2), UInt32(0)), (UInt32(0x1), UInt32(1 << 20))] {
            let bench = try GPUTestBench()
            var w = WireWriter()
            w.write(UInt32(1)); w.write(flags); w.write(size)
            try UnixSocket.send(bench.frontend.channel.socket, w.bytes)
            #expect(bench.waitConnectionEnded())
        }
    }

    @Test("GPU2D-4: GET_CONFIG reads the 16-byte config space; out-of-range reads get an empty answer")
    func configSpace() throws {
        let bench = try GPUTestBench()
        let config = try bench.frontend.getConfig()
        var r = WireReader(config)
        #expect(try r.read(UInt32.self) == 0)   // events_read
        #expect(try r.read(UInt32.self) == 0)   // events_clear
        #expect(try r.read(UInt32.self) == 1)   // num_scanouts
        #expect(try r.read(UInt32.self) == 0)   // num_capsets (GPU2D-4.1)
        #expect(try bench.frontend.getConfig(offset: 12, size: 8).isEmpty)
        // SET_CONFIG: events_clear is writable, num_capsets is not (GPU2D-4.1); past the end is NACKed.
        let write = VhostUserConfig(offset: 12, size: 4, flags: 0, payload: [7, 0, 0, 0]).encoded
        _ = try bench.frontend.request(.setConfig, payload: write)
        #expect(Array(try bench.frontend.getConfig()[12..<16]) == [0, 0, 0, 0])
        try expectNACK(bench, .setConfig, payload: VhostUserConfig(offset: 14, size: 4, flags: 0, payload: [1, 1, 1, 1]).encoded)
    }

    @Test("GET_VRING_BASE stops the ring and reports the next index; the ring restarts from it")
    func vringBaseRoundTrip() throws {
        let bench = try GPUTestBench()
        _ = try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408))
        _ = try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408))
        let reply = try #require(try bench.frontend.request(.getVringBase, payload: VringState(index: 0, num: 0).encoded,
                                                            expectReply: true))
        var r = WireReader(reply)
        #expect(try VringState(from: &r) == VringState(index: 0, num: 2))
        _ = try bench.frontend.request(.setVringKick, payload: bench.frontend.u64(0), fds: [try bench.controlq.kick.duplicate()])
        _ = try bench.frontend.request(.setVringEnable, payload: VringState(index: 0, num: 1).encoded)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408))) == 0x1101)
    }

    @Test("ADD_MEM_REG / REM_MEM_REG change the table; GET_MAX_MEM_SLOTS answers")
    func memSlots() throws {
        let bench = try GPUTestBench()
        var r = WireReader(try #require(try bench.frontend.request(.getMaxMemSlots, expectReply: true)))
        #expect(try r.read(UInt64.self) == 32)
        let extra = try MemFD.make(name: "extra", size: 1 << 20)
        var w = WireWriter()
        w.write(UInt64(0)); ramLayout(0x2_0000_0000, 1 << 20, 0x7f56_0000_0000).encode(into: &w)
        _ = try bench.frontend.request(.addMemReg, payload: w.bytes, fds: [extra])
        // Overlapping the existing region 0: NACK.
        var bad = WireWriter()
        bad.write(UInt64(0)); ramLayout(0, 1 << 20, 0x7f78_0000_0000).encode(into: &bad)
        try expectNACK(bench, .addMemReg, payload: bad.bytes, fds: [try MemFD.make(name: "x", size: 1 << 20)])
        _ = try bench.frontend.request(.remMemReg, payload: w.bytes)
        try expectNACK(bench, .remMemReg, payload: w.bytes)   // already gone
    }
}

@Suite struct HostileGuestRingTests {
    @Test("A looping chain is returned used with length 0; the next command is served")
    func badChainThenGood() throws {
        let bench = try GPUTestBench()
        let buf = bench.ram.allocate(64)
        bench.controlq.writeDescriptor(60, address: buf, length: 24, flags: 1, next: 61)
        bench.controlq.writeDescriptor(61, address: buf, length: 24, flags: 1, next: 60)
        bench.controlq.publish(60)
        bench.controlq.notify()
        let used = try #require(bench.controlq.waitUsed())
        #expect(used.id == 60 && used.length == 0)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408))) == 0x1101)
    }

    @Test("A corrupt avail index stops that queue only; the connection and the other queue keep working")
    func corruptAvailIndex() throws {
        let bench = try GPUTestBench()
        bench.controlq.setAvailIndex(1000)
        bench.controlq.notify()
        Thread.sleep(forTimeInterval: 0.1)
        #expect(bench.controlq.usedIndex == 0)
        #expect(try bench.frontend.request(.getFeatures, expectReply: true)?.count == 8)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.moveCursor(scanout: 0, x: 1, y: 1), queue: 1))) == 0x1100)
    }

    @Test("A response buffer too small gets what fits; a command on the wrong queue gets ERR_UNSPEC")
    func smallResponseAndWrongQueue() throws {
        let bench = try GPUTestBench()
        let resp = try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 30))
        #expect(resp.count == 30)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.getDisplayInfo(), queue: 1))) == 0x1200)
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.moveCursor(scanout: 0, x: 1, y: 1), queue: 0))) == 0x1200)
    }
}
