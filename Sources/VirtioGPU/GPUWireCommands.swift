// GPUWireCommands: the request payloads of the 2D command set ([VIRTIO] 5.7.6.8), one value type each.
import Display
import Wire

/// `struct virtio_gpu_get_edid`.
struct GetEDID: Equatable {
    var scanout: UInt32       // scanout
    init(from r: inout WireReader) throws(WireError) { scanout = try r.read(); try r.skip(4) }
}

/// `struct virtio_gpu_resource_create_2d`.
struct ResourceCreate2D: Equatable {
    var resourceID: UInt32    // resource_id
    var format: UInt32        // format
    var width: UInt32         // width
    var height: UInt32        // height
    init(from r: inout WireReader) throws(WireError) {
        resourceID = try r.read(); format = try r.read(); width = try r.read(); height = try r.read()
    }
}

/// `struct virtio_gpu_resource_unref`, `virtio_gpu_resource_detach_backing` and
/// `virtio_gpu_resource_assign_uuid`: a resource id and padding.
struct ResourceOnly: Equatable {
    var resourceID: UInt32    // resource_id
    init(from r: inout WireReader) throws(WireError) { resourceID = try r.read(); try r.skip(4) }
}

/// `struct virtio_gpu_set_scanout`.
struct SetScanout: Equatable {
    var r: Rect               // r
    var scanoutID: UInt32     // scanout_id
    var resourceID: UInt32    // resource_id
    init(from rd: inout WireReader) throws(WireError) {
        r = try Rect(from: &rd); scanoutID = try rd.read(); resourceID = try rd.read()
    }
}

/// `struct virtio_gpu_resource_flush`.
public struct ResourceFlush: Equatable {
    var r: Rect               // r
    var resourceID: UInt32    // resource_id
    init(from rd: inout WireReader) throws(WireError) { r = try Rect(from: &rd); resourceID = try rd.read(); try rd.skip(4) }

    /// The resource and rectangle of a whole RESOURCE_FLUSH request (header first), decoded as the device decodes
    /// it; nil for any other command or a short request. For diagnostics that look at requests before they run.
    public static func decode(request: [UInt8]) -> (resourceID: UInt32, rect: Rect)? {
        var reader = WireReader(request)
        guard let hdr = try? CtrlHdr(from: &reader), hdr.type == GPUCommandType.resourceFlush.rawValue,
              let flush = try? ResourceFlush(from: &reader) else { return nil }
        return (flush.resourceID, flush.r)
    }
}

/// `struct virtio_gpu_transfer_to_host_2d`.
struct TransferToHost2D: Equatable {
    var r: Rect               // r
    var offset: UInt64        // offset
    var resourceID: UInt32    // resource_id
    init(from rd: inout WireReader) throws(WireError) {
        r = try Rect(from: &rd); offset = try rd.read(); resourceID = try rd.read(); try rd.skip(4)
    }
}

/// `struct virtio_gpu_mem_entry`.
struct MemEntry: Equatable {
    static let size = 16
    var addr: UInt64          // addr
    var length: UInt32        // length
    init(from r: inout WireReader) throws(WireError) { addr = try r.read(); length = try r.read(); try r.skip(4) }
}

/// `struct virtio_gpu_resource_attach_backing`; its `nr_entries` `virtio_gpu_mem_entry`s follow in the request.
struct ResourceAttachBacking: Equatable {
    static let size = CtrlHdr.size + 8
    var resourceID: UInt32    // resource_id
    var nrEntries: UInt32     // nr_entries: bounded by the caller before entries are decoded
    init(from r: inout WireReader) throws(WireError) { resourceID = try r.read(); nrEntries = try r.read() }
}

/// `struct virtio_gpu_cursor_pos`.
struct CursorPos: Equatable {
    var scanoutID: UInt32     // scanout_id
    var x: UInt32             // x
    var y: UInt32             // y
    init(from r: inout WireReader) throws(WireError) {
        scanoutID = try r.read(); x = try r.read(); y = try r.read(); try r.skip(4)
    }
}

/// `struct virtio_gpu_update_cursor` (both UPDATE_CURSOR and MOVE_CURSOR use it).
struct UpdateCursor: Equatable {
    var pos: CursorPos        // pos
    var resourceID: UInt32    // resource_id
    var hotX: UInt32          // hot_x
    var hotY: UInt32          // hot_y
    init(from r: inout WireReader) throws(WireError) {
        pos = try CursorPos(from: &r); resourceID = try r.read(); hotX = try r.read(); hotY = try r.read()
        try r.skip(4)
    }
}
