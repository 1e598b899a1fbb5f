// RESOURCE_CREATE_2D, RESOURCE_UNREF, ATTACH/DETACH_BACKING and RESOURCE_ASSIGN_UUID (GPU2D-5, GPU2D-5.2).
import Display
import Testing
@testable import VirtioGPU

@Suite struct GPUResourceTests {
    @Test("GPU2D-5: RESOURCE_CREATE_2D creates every format and charges width*height*4")
    func createAllFormats() throws {
        let h = try Harness()
        for (i, f) in GPUFormat.allCases.enumerated() {
            #expect(h.code(Req.create(UInt32(i + 1), f.rawValue, 10, 3)) == .okNoData)
        }
        #expect(h.device.resourceCount == 8)
        #expect(h.device.usedHostMemory == 8 * 120)
    }

    @Test("GPU2D-5: RESOURCE_CREATE_2D with id 0 is ERR_INVALID_RESOURCE_ID")
    func createIDZero() throws {
        let h = try Harness()
        #expect(h.code(Req.create(0, 2, 4, 4)) == .errInvalidResourceID)
        #expect(h.device.resourceCount == 0 && h.device.usedHostMemory == 0)
    }

    @Test("GPU2D-5: RESOURCE_CREATE_2D of an existing id is ERR_INVALID_RESOURCE_ID and keeps the first")
    func createDuplicate() throws {
        let h = try Harness()
        #expect(h.code(Req.create(3, 2, 4, 4)) == .okNoData)
        #expect(h.code(Req.create(3, 2, 8, 8)) == .errInvalidResourceID)
        #expect(h.device.resourceCount == 1 && h.device.usedHostMemory == 64)
    }

    @Test("GPU2D-5: RESOURCE_CREATE_2D with an unknown format is ERR_INVALID_PARAMETER")
    func createBadFormat() throws {
        let h = try Harness()
        for f: UInt32 in [0, 5, 66, 120, 135, .max] { #expect(h.code(Req.create(1, f, 4, 4)) == .errInvalidParameter) }
        #expect(h.device.resourceCount == 0 && h.device.usedHostMemory == 0)
    }

    @Test("GPU2D-5: RESOURCE_CREATE_2D with zero or oversized dimensions is ERR_INVALID_PARAMETER")
    func createBadSize() throws {
        let h = try Harness()
        for (w, hh): (UInt32, UInt32) in [(0, 4), (4, 0), (16385, 1), (1, 16385), (.max, .max)] {
            #expect(h.code(Req.create(1, 2, w, hh)) == .errInvalidParameter)
        }
        #expect(h.code(Req.create(1, 2, 16384, 1)) == .okNoData)
        #expect(h.device.resourceCount == 1 && h.device.usedHostMemory == 16384 * 4)
    }

    @Test("GPU2D-5: RESOURCE_CREATE_2D past the host memory quota is ERR_OUT_OF_MEMORY")
    func createQuota() throws {
        var limits = GPUDeviceLimits()
        limits.hostMemoryQuota = 1000
        let h = try Harness(limits: limits)
        #expect(h.code(Req.create(1, 2, 10, 20)) == .okNoData)     // 800 bytes
        #expect(h.code(Req.create(2, 2, 10, 6)) == .errOutOfMemory) // 240 more: 1040 > 1000
        #expect(h.device.resourceCount == 1 && h.device.usedHostMemory == 800)
        #expect(h.code(Req.create(2, 2, 10, 5)) == .okNoData)      // exactly 1000
        #expect(h.device.usedHostMemory == 1000)
    }

    @Test("GPU2D-5: RESOURCE_CREATE_2D size product is overflow-checked")
    func createOverflow() throws {
        var limits = GPUDeviceLimits()
        limits.maxDimension = .max
        limits.hostMemoryQuota = .max
        let h = try Harness(limits: limits)
        // 0xffffffff^2 * 4 overflows 64 bits: refused, not wrapped into a small allocation.
        #expect(h.code(Req.create(1, 2, .max, .max)) == .errOutOfMemory)
        #expect(h.device.resourceCount == 0 && h.device.usedHostMemory == 0)
    }

    @Test("GPU2D-5: more than maxResources resources is ERR_OUT_OF_MEMORY")
    func createMaxResources() throws {
        var limits = GPUDeviceLimits()
        limits.maxResources = 2
        let h = try Harness(limits: limits)
        #expect(h.code(Req.create(1, 2, 1, 1)) == .okNoData)
        #expect(h.code(Req.create(2, 2, 1, 1)) == .okNoData)
        #expect(h.code(Req.create(3, 2, 1, 1)) == .errOutOfMemory)
        #expect(h.device.resourceCount == 2 && h.device.usedHostMemory == 8)
    }

    @Test("GPU2D-5: RESOURCE_UNREF frees the resource and its quota; unknown or 0 is ERR_INVALID_RESOURCE_ID")
    func unref() throws {
        let h = try Harness()
        try h.makeResource(1, 4, 4)
        #expect(h.code(Req.unref(0)) == .errInvalidResourceID)
        #expect(h.code(Req.unref(2)) == .errInvalidResourceID)
        #expect(h.device.resourceCount == 1 && h.device.usedHostMemory == 64)
        #expect(h.code(Req.unref(1)) == .okNoData)
        #expect(h.device.resourceCount == 0 && h.device.usedHostMemory == 0)
        #expect(h.code(Req.unref(1)) == .errInvalidResourceID)
    }

    @Test("GPU2D-5: RESOURCE_UNREF of a shown resource disables its scanouts")
    func unrefShown() throws {
        let h = try Harness()
        try h.makeResource(1, 8, 8)
        #expect(h.code(Req.setScanout(0, 1, R(0, 0, 8, 8))) == .okNoData)
        #expect(h.code(Req.setScanout(1, 1, R(0, 0, 4, 4))) == .okNoData)
        #expect(h.code(Req.unref(1)) == .okNoData)
        #expect(h.lastEvents == [.scanout(index: 0, width: 0, height: 0), .scanout(index: 1, width: 0, height: 0)])
        #expect(h.displays.snapshot(0) == nil && h.displays.snapshot(1) == nil)
        // The id can be reused, and a flush of the new resource does not touch the old scanouts.
        try h.makeResource(1, 8, 8)
        #expect(h.code(Req.flush(1, R(0, 0, 8, 8))) == .okNoData)
        #expect(h.lastEvents.isEmpty)
    }

    @Test("GPU2D-5.2: RESOURCE_UNREF releases backing entries")
    func unrefFreesBacking() throws {
        var limits = GPUDeviceLimits()
        limits.maxTotalBackingEntries = 2
        let h = try Harness(limits: limits)
        let two = [(TestGuest.base0, UInt32(32)), (TestGuest.base1, UInt32(32))]
        #expect(h.code(Req.create(1, 2, 4, 4)) == .okNoData)
        #expect(h.code(Req.attach(1, two)) == .okNoData)
        #expect(h.code(Req.create(2, 2, 4, 4)) == .okNoData)
        #expect(h.code(Req.attach(2, [(TestGuest.base0, 64)])) == .errOutOfMemory)
        #expect(h.code(Req.unref(1)) == .okNoData)
        #expect(h.code(Req.attach(2, two)) == .okNoData)
    }

    @Test("GPU2D-5.2: ATTACH_BACKING twice is ERR_UNSPEC; DETACH of none is ERR_UNSPEC")
    func attachDetach() throws {
        let h = try Harness()
        #expect(h.code(Req.create(1, 2, 4, 4)) == .okNoData)
        #expect(h.code(Req.detach(1)) == .errUnspec)
        #expect(h.code(Req.attach(1, [(TestGuest.base0, 64)])) == .okNoData)
        #expect(h.code(Req.attach(1, [(TestGuest.base1, 64)])) == .errUnspec)
        // The first backing is still the one used.
        try h.guest.write([UInt8](repeating: 7, count: 64), at: TestGuest.base0)
        try h.guest.write([UInt8](repeating: 9, count: 64), at: TestGuest.base1)
        #expect(h.code(Req.transfer(1, R(0, 0, 4, 4))) == .okNoData)
        #expect(h.code(Req.setScanout(0, 1, R(0, 0, 4, 4))) == .okNoData)
        #expect(h.pixel(0, 3, 3) == [7, 7, 7, 7])
        #expect(h.code(Req.detach(1)) == .okNoData)
        #expect(h.code(Req.detach(1)) == .errUnspec)
        #expect(h.code(Req.transfer(1, R(0, 0, 4, 4))) == .errUnspec)   // no backing
        #expect(h.code(Req.detach(2)) == .errInvalidResourceID)
        #expect(h.code(Req.attach(2, [(TestGuest.base0, 64)])) == .errInvalidResourceID)
        #expect(h.code(Req.attach(0, [(TestGuest.base0, 64)])) == .errInvalidResourceID)
    }

    @Test("GPU2D-5.2: ATTACH_BACKING with more than maxBackingEntries (or 0) entries is ERR_INVALID_PARAMETER")
    func attachTooMany() throws {
        var limits = GPUDeviceLimits()
        limits.maxBackingEntries = 4
        let h = try Harness(limits: limits)
        #expect(h.code(Req.create(1, 2, 4, 4)) == .okNoData)
        let five = (0..<5).map { (TestGuest.base0 + UInt64($0) * 16, UInt32(16)) }
        #expect(h.code(Req.attach(1, five)) == .errInvalidParameter)
        #expect(h.code(Req.attach(1, [])) == .errInvalidParameter)
        #expect(h.code(Req.transfer(1, R(0, 0, 4, 4))) == .errUnspec)           // still no backing
        #expect(h.code(Req.attach(1, Array(five.prefix(4)))) == .okNoData)
        #expect(GPUDevice.maxRequestSize == 32 + 16384 * 16)
    }

    @Test("GPU2D-5.2: ATTACH_BACKING announcing more entries than present is ERR_INVALID_PARAMETER")
    func attachEntriesMissing() throws {
        let h = try Harness()
        #expect(h.code(Req.create(1, 2, 4, 4)) == .okNoData)
        #expect(h.code(Req.attach(1, [(TestGuest.base0, 64)], nr: 2)) == .errInvalidParameter)
        #expect(h.code(Req.attach(1, [(TestGuest.base0, 64)], nr: .max)) == .errInvalidParameter)
        #expect(h.code(Req.detach(1)) == .errUnspec)                           // nothing attached
    }

    @Test("GPU2D-5.2: ATTACH_BACKING entries outside guest memory, wrapping or empty are ERR_INVALID_PARAMETER")
    func attachBadEntries() throws {
        let h = try Harness()
        #expect(h.code(Req.create(1, 2, 4, 4)) == .okNoData)
        let bad: [[(UInt64, UInt32)]] = [
            [(TestGuest.gap, 64)],                                             // in the gap
            [(TestGuest.base0 + TestGuest.size0 - 32, 64)],                     // runs off region 0 into the gap
            [(TestGuest.base0, 32), (UInt64.max - 16, 64)],                     // wraps
            [(0, 64)],                                                          // below guest memory
            [(TestGuest.base0, 0)],                                             // empty
        ]
        for entries in bad { #expect(h.code(Req.attach(1, entries)) == .errInvalidParameter) }
        #expect(h.code(Req.detach(1)) == .errUnspec)                           // nothing was attached
        #expect(h.code(Req.attach(1, [(TestGuest.base1, 64)])) == .okNoData)
    }

    @Test("GPU2D-5: RESOURCE_ASSIGN_UUID is a random UUID, stable on repeat, per resource")
    func assignUUID() throws {
        let h = try Harness()
        #expect(h.code(Req.create(1, 2, 4, 4)) == .okNoData)
        #expect(h.code(Req.create(2, 2, 4, 4)) == .okNoData)
        let a = h.send(Req.uuid(1)).response, b = h.send(Req.uuid(1)).response, c = h.send(Req.uuid(2)).response
        #expect(Harness.type(of: a) == .okResourceUUID)
        #expect(a.count == 40 && a == b && a[24...] != c[24...])
        #expect(a[30] >> 4 == 4)                                               // version 4
        #expect(h.code(Req.uuid(3)) == .errInvalidResourceID)
        #expect(h.code(Req.uuid(0)) == .errInvalidResourceID)
    }

    @Test("GPU2D-5: RESOURCE_ASSIGN_UUID without VIRTIO_GPU_F_RESOURCE_UUID is ERR_UNSPEC")
    func assignUUIDNeedsFeature() throws {
        let h = try Harness()
        h.device.setNegotiatedFeatures(GPUFeatures.edid)
        #expect(h.code(Req.create(1, 2, 4, 4)) == .okNoData)
        #expect(h.code(Req.uuid(1)) == .errUnspec)
    }
}
