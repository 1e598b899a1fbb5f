// Device identity, features, config space, queues, headers and fences (GPU2D-1..4, GPU2D-5 request header).
import Display
import Testing
import Wire
@testable import VirtioGPU

@Suite struct GPUConfigTests {
    @Test("GPU2D-1: device ID is 16")
    func deviceID() { #expect(GPUDevice.deviceID == 16) }

    @Test("GPU2D-3: VIRTIO_GPU_F_VIRGL is never offered; EDID and RESOURCE_UUID are")
    func features() throws {
        #expect(GPUDevice.offeredFeatures & GPUFeatures.virgl == 0)
        #expect(GPUDevice.offeredFeatures == GPUFeatures.edid | GPUFeatures.resourceUUID)
        // Even a frontend claiming VIRGL does not make 3D commands work.
        let h = try Harness()
        h.device.setNegotiatedFeatures(~0)
        #expect(h.code(Req.cmd(.ctxCreate, [0, 0])) == .errUnspec)
        #expect(h.code(Req.cmd(.resourceCreate3D, Array(repeating: 1, count: 12))) == .errUnspec)
        #expect(h.code(Req.cmd(.getCapsetInfo, [0, 0])) == .errUnspec)
        #expect(h.code(Req.cmd(.resourceCreateBlob, Array(repeating: 1, count: 10))) == .errUnspec)
        #expect(h.device.resourceCount == 0)
    }

    @Test("GPU2D-4: config space is virtio_gpu_config (events_read, events_clear, num_scanouts, num_capsets)")
    func configLayout() throws {
        let h = try Harness(scanouts: 3)
        #expect(h.device.configSpace == [0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0])
        h.device.displayConfigurationChanged()
        #expect(Array(h.device.configSpace[0..<4]) == [1, 0, 0, 0])
        h.device.writeConfig(offset: 0, bytes: [1, 0, 0, 0])        // events_read is read-only
        #expect(Array(h.device.configSpace[0..<4]) == [1, 0, 0, 0])
        h.device.writeConfig(offset: 8, bytes: [9, 0, 0, 0])        // num_scanouts is read-only
        #expect(h.device.configSpace[8] == 3)
        h.device.writeConfig(offset: 4, bytes: [1, 0, 0, 0])        // events_clear
        #expect(Array(h.device.configSpace[0..<8]) == [0, 0, 0, 0, 0, 0, 0, 0])
        h.device.displayConfigurationChanged()
        h.device.writeConfig(offset: 4, bytes: [1])                 // a one-byte write clears too
        #expect(h.device.configSpace[0] == 0)
        h.device.writeConfig(offset: UInt32.max, bytes: [1, 2, 3])  // never traps
    }

    @Test("GPU2D-4.1: num_capsets reads 0 and writes to it are ignored")
    func numCapsets() throws {
        let h = try Harness()
        #expect(Array(h.device.configSpace[12..<16]) == [0, 0, 0, 0])
        h.device.writeConfig(offset: 12, bytes: [4, 0, 0, 0])
        h.device.writeConfig(offset: 0, bytes: [UInt8](repeating: 0xff, count: 16))
        #expect(Array(h.device.configSpace[12..<16]) == [0, 0, 0, 0])
    }

    @Test("GPU2D-2: a cursor command on controlq is ERR_UNSPEC and moves nothing")
    func cursorOnControl() throws {
        let h = try Harness()
        let before = h.displays.cursor
        #expect(h.code(Req.cursor(.moveCursor, x: 5, y: 6), queue: .control) == .errUnspec)
        #expect(h.displays.cursor == before)
        #expect(h.lastEvents.isEmpty)
    }

    @Test("GPU2D-2: a control command on cursorq is ERR_UNSPEC and creates nothing")
    func controlOnCursor() throws {
        let h = try Harness()
        #expect(h.code(Req.create(1, 2, 4, 4), queue: .cursor) == .errUnspec)
        #expect(h.device.resourceCount == 0)
        #expect(h.device.usedHostMemory == 0)
    }

    @Test("GPU2D-5: a fenced request's response carries the fence flag, fence_id and ctx_id")
    func fences() throws {
        let h = try Harness()
        var req = Req.create(1, 2, 4, 4)
        req.replaceSubrange(4..<24, with: Req.hdr(0, flags: GPUFlags.fence, fence: 0x1122_3344_5566_7788, ctx: 7)[4..<24])
        let resp = h.send(req).response
        var r = WireReader(resp)
        #expect(try r.read(UInt32.self) == GPUResponseType.okNoData.rawValue)
        #expect(try r.read(UInt32.self) == GPUFlags.fence)
        #expect(try r.read(UInt64.self) == 0x1122_3344_5566_7788)
        #expect(try r.read(UInt32.self) == 7)
        #expect(resp.count == 24)
        // A fenced error keeps the fence too.
        let err = h.send(Req.cmd(.resourceUnref, [99, 0], flags: GPUFlags.fence, fence: 5)).response
        #expect(Harness.type(of: err) == .errInvalidResourceID)
        #expect(Array(err[4..<16]) == [1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0])
        // Without the flag: no fence in the answer.
        let plain = h.send(Req.unref(1)).response
        #expect(Array(plain[4..<24]) == [UInt8](repeating: 0, count: 20))
    }

    @Test("GPU2D-5: unknown command type is ERR_UNSPEC")
    func unknownType() throws {
        let h = try Harness()
        #expect(h.code(Req.hdr(0x0999)) == .errUnspec)
        #expect(h.code(Req.hdr(0x0300 + 7), queue: .cursor) == .errUnspec)
    }

    @Test("GPU2D-5: a request shorter than its struct is ERR_INVALID_PARAMETER and changes nothing")
    func shortRequests() throws {
        let h = try Harness()
        #expect(h.code([1, 2, 3]) == .errInvalidParameter)
        let full = Req.create(1, 2, 4, 4)
        for cut in [24, 30, full.count - 1] {
            #expect(h.code(Array(full.prefix(cut))) == .errInvalidParameter)
        }
        #expect(h.device.resourceCount == 0 && h.device.usedHostMemory == 0)
        for req in [Req.unref(1), Req.setScanout(0, 1, R(0, 0, 4, 4)), Req.flush(1, R(0, 0, 1, 1)),
                    Req.transfer(1, R(0, 0, 1, 1)), Req.detach(1), Req.edid(0), Req.uuid(1)] {
            #expect(h.code(Array(req.dropLast())) == .errInvalidParameter)
        }
        let moved = Req.cursor(.moveCursor, x: 1, y: 1)
        #expect(h.code(Array(moved.dropLast()), queue: .cursor) == .errInvalidParameter)
        #expect(h.displays.cursor.x == 0)
    }

    @Test("GPU2D-5: GET_DISPLAY_INFO lists every scanout's preferred mode in 16 pmodes")
    func displayInfo() throws {
        let h = try Harness(scanouts: 2, width: 800, height: 600)
        h.displays.setModes([DisplayMode(enabled: true, width: 800, height: 600),
                             DisplayMode(enabled: false, width: 1024, height: 768, x: 800, y: 0)])
        let resp = h.send(Req.hdr(Cmd.getDisplayInfo.rawValue)).response
        #expect(resp.count == 24 + 16 * 24)
        var r = WireReader(resp)
        #expect(try r.read(UInt32.self) == GPUResponseType.okDisplayInfo.rawValue)
        try r.skip(20)
        let first = try (0..<6).map { _ in try r.read(UInt32.self) }
        #expect(first == [0, 0, 800, 600, 1, 0])
        let second = try (0..<6).map { _ in try r.read(UInt32.self) }
        #expect(second == [800, 0, 1024, 768, 0, 0])
        #expect(r.readRemaining().allSatisfy { $0 == 0 })
    }

    @Test("GPU2D-5: reset drops resources, scanouts, cursor and events")
    func reset() throws {
        let h = try Harness()
        try h.makeResource(1, 4, 4)
        #expect(h.code(Req.setScanout(0, 1, R(0, 0, 4, 4))) == .okNoData)
        #expect(h.code(Req.cursor(.updateCursor, x: 1, y: 1, id: 1), queue: .cursor) == .okNoData)
        h.device.displayConfigurationChanged()
        h.device.reset()
        #expect(h.device.resourceCount == 0 && h.device.usedHostMemory == 0)
        #expect(h.displays.snapshot(0) == nil)
        #expect(!h.displays.cursor.visible)
        #expect(h.device.configSpace[0] == 0)
        #expect(h.code(Req.create(1, 2, 4, 4)) == .okNoData)   // the id is free again
    }
}
