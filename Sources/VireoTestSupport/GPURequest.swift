// GPURequest: encoders for virtio-gpu requests as a guest driver writes them (virtio_gpu_ctrl_hdr + command).
import Display
import Wire

public enum GPURequest {
    public enum Command: UInt32, Sendable {
        case getDisplayInfo = 0x0100, resourceCreate2D = 0x0101, resourceUnref = 0x0102, setScanout = 0x0103
        case resourceFlush = 0x0104, transferToHost2D = 0x0105, resourceAttachBacking = 0x0106
        case resourceDetachBacking = 0x0107, getCapsetInfo = 0x0108, getCapset = 0x0109, getEDID = 0x010a
        case resourceAssignUUID = 0x010b, updateCursor = 0x0300, moveCursor = 0x0301
    }
    public static let fenceFlag: UInt32 = 1

    public static func header(_ type: UInt32, flags: UInt32 = 0, fence: UInt64 = 0, ctx: UInt32 = 0) -> [UInt8] {
        var w = WireWriter()
        w.write(type); w.write(flags); w.write(fence); w.write(ctx); w.write(zeros: 4)
        return w.bytes
    }
    public static func command(_ c: Command, _ fields: [UInt32], flags: UInt32 = 0, fence: UInt64 = 0) -> [UInt8] {
        var w = WireWriter()
        for f in fields { w.write(f) }
        return header(c.rawValue, flags: flags, fence: fence) + w.bytes
    }
    static func rect(_ r: Rect) -> [UInt32] { [r.x, r.y, r.width, r.height] }

    public static func getDisplayInfo() -> [UInt8] { command(.getDisplayInfo, []) }
    public static func getEDID(scanout: UInt32) -> [UInt8] { command(.getEDID, [scanout, 0]) }
    public static func create2D(_ id: UInt32, format: UInt32, width: UInt32, height: UInt32) -> [UInt8] {
        command(.resourceCreate2D, [id, format, width, height])
    }
    public static func unref(_ id: UInt32) -> [UInt8] { command(.resourceUnref, [id, 0]) }
    public static func attachBacking(_ id: UInt32, _ entries: [(address: UInt64, length: UInt32)],
                                     nrEntries: UInt32? = nil) -> [UInt8] {
        var w = WireWriter()
        for e in entries { w.write(e.address); w.write(e.length); w.write(UInt32(0)) }
        return command(.resourceAttachBacking, [id, nrEntries ?? UInt32(entries.count)]) + w.bytes
    }
    public static func detachBacking(_ id: UInt32) -> [UInt8] { command(.resourceDetachBacking, [id, 0]) }
    public static func transfer(_ id: UInt32, _ r: Rect, offset: UInt64 = 0, flags: UInt32 = 0,
                                fence: UInt64 = 0) -> [UInt8] {
        command(.transferToHost2D, rect(r) + [UInt32(truncatingIfNeeded: offset), UInt32(offset >> 32), id, 0],
                flags: flags, fence: fence)
    }
    public static func flush(_ id: UInt32, _ r: Rect, flags: UInt32 = 0, fence: UInt64 = 0) -> [UInt8] {
        command(.resourceFlush, rect(r) + [id, 0], flags: flags, fence: fence)
    }
    public static func setScanout(_ scanout: UInt32, _ id: UInt32, _ r: Rect) -> [UInt8] {
        command(.setScanout, rect(r) + [scanout, id])
    }
    public static func updateCursor(scanout: UInt32, x: UInt32, y: UInt32, resource: UInt32, hotX: UInt32 = 0,
                                    hotY: UInt32 = 0) -> [UInt8] {
        command(.updateCursor, [scanout, x, y, 0, resource, hotX, hotY, 0])
    }
    public static func moveCursor(scanout: UInt32, x: UInt32, y: UInt32) -> [UInt8] {
        command(.moveCursor, [scanout, x, y, 0, 0, 0, 0, 0])
    }

    /// The response type of a response (first 4 bytes), or nil when too short.
    public static func responseType(_ bytes: [UInt8]) -> UInt32? {
        var r = WireReader(bytes)
        return try? r.read(UInt32.self)
    }
}
