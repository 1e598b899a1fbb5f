// GPUWireHeader: `virtio_gpu_ctrl_hdr` and `virtio_gpu_rect`, decoded with WireReader and encoded with WireWriter.
import Display
import Wire

/// `struct virtio_gpu_ctrl_hdr` ([VIRTIO] 5.7.6.7): 24 bytes opening every request and response.
struct CtrlHdr: Equatable {
    static let size = 24
    var type: UInt32          // type
    var flags: UInt32         // flags
    var fenceID: UInt64       // fence_id
    var ctxID: UInt32         // ctx_id
    var ringIdx: UInt8        // ring_idx

    init(type: UInt32, flags: UInt32 = 0, fenceID: UInt64 = 0, ctxID: UInt32 = 0, ringIdx: UInt8 = 0) {
        self.type = type; self.flags = flags; self.fenceID = fenceID; self.ctxID = ctxID; self.ringIdx = ringIdx
    }

    init(from r: inout WireReader) throws(WireError) {
        type = try r.read()
        flags = try r.read()
        fenceID = try r.read()
        ctxID = try r.read()
        ringIdx = try r.read()
        try r.skip(3)         // padding[3]
    }

    /// The response header for this request: [VIRTIO] 5.7.6.7 "If the driver sets VIRTIO_GPU_FLAG_FENCE ... the
    /// device MUST set VIRTIO_GPU_FLAG_FENCE in the response and copy fence_id" (ctx_id is echoed with it).
    func response(_ type: GPUResponseType) -> CtrlHdr {
        guard flags & GPUFlags.fence != 0 else { return CtrlHdr(type: type.rawValue) }
        return CtrlHdr(type: type.rawValue, flags: GPUFlags.fence, fenceID: fenceID, ctxID: ctxID)
    }

    func encode(into w: inout WireWriter) {
        w.write(type); w.write(flags); w.write(fenceID); w.write(ctxID); w.write(ringIdx); w.write(zeros: 3)
    }
}

/// `struct virtio_gpu_rect` ([VIRTIO] 5.7.6.8): x, y, width, height.
extension Rect {
    init(from r: inout WireReader) throws(WireError) {
        let x: UInt32 = try r.read(), y: UInt32 = try r.read()
        let width: UInt32 = try r.read(), height: UInt32 = try r.read()
        self.init(x: x, y: y, width: width, height: height)
    }

    func encode(into w: inout WireWriter) { w.write(x); w.write(y); w.write(width); w.write(height) }

    /// The overlap of two rectangles in one coordinate space (empty when they do not meet). 64-bit ends never wrap.
    func intersection(_ o: Rect) -> Rect {
        let x0 = max(UInt64(x), UInt64(o.x)), y0 = max(UInt64(y), UInt64(o.y))
        let x1 = min(UInt64(x) + UInt64(width), UInt64(o.x) + UInt64(o.width))
        let y1 = min(UInt64(y) + UInt64(height), UInt64(o.y) + UInt64(o.height))
        guard x0 < x1, y0 < y1 else { return Rect(x: 0, y: 0, width: 0, height: 0) }
        return Rect(x: UInt32(x0), y: UInt32(y0), width: UInt32(x1 - x0), height: UInt32(y1 - y0))
    }
}
