// GPUDevice+Cursor: UPDATE_CURSOR and MOVE_CURSOR (cursor queue), kept in the DisplaySet's CursorState.
import Display

extension GPUDevice {
    static let cursorSize: UInt32 = 64

    /// GPU2D-5: VIRTIO_GPU_CMD_UPDATE_CURSOR. Resource 0 hides the cursor; otherwise the resource (at most 64x64,
    /// placed top-left in a 64x64 image) becomes the cursor image as B,G,R,A, with hot spot and position.
    func updateCursor(_ c: UpdateCursor) throws(GPUCommandError) {
        let scanout = try scanoutIndex(c.pos.scanoutID)
        var image: [UInt8] = []
        if c.resourceID != 0 {
            let res = try resource(c.resourceID)
            guard res.width <= Self.cursorSize, res.height <= Self.cursorSize else {
                throw .invalidParameter("cursor resource \(res.id) is \(res.width)x\(res.height), over 64x64")
            }
            guard c.hotX < Self.cursorSize, c.hotY < Self.cursorSize else {
                throw .invalidParameter("cursor hot spot \(c.hotX),\(c.hotY) outside 64x64")
            }
            image = [UInt8](repeating: 0, count: Int(Self.cursorSize * Self.cursorSize) * 4)
            res.pixels.withUnsafeBytes { src in
                image.withUnsafeMutableBytes { dst in
                    for row in 0..<Int(res.height) {
                        res.format.convertRow(from: src.baseAddress! + row * res.stride,
                                              to: dst.baseAddress! + row * Int(Self.cursorSize) * 4,
                                              count: Int(res.width), opaque: true)
                    }
                }
            }
        }
        var state: CursorState?
        displays.setCursor { cur in
            cur.scanout = UInt32(scanout)
            cur.x = c.pos.x
            cur.y = c.pos.y
            cur.visible = c.resourceID != 0
            cur.hotX = c.resourceID != 0 ? c.hotX : 0
            cur.hotY = c.resourceID != 0 ? c.hotY : 0
            cur.image = image
            cur.imageSerial &+= 1
            state = cur
        }
        if let state { events.append(.cursorUpdate(state)) }
    }

    /// GPU2D-5: VIRTIO_GPU_CMD_MOVE_CURSOR moves the cursor only (image and hot spot stay).
    func moveCursor(_ c: UpdateCursor) throws(GPUCommandError) {
        let scanout = try scanoutIndex(c.pos.scanoutID)
        displays.setCursor { cur in
            cur.scanout = UInt32(scanout); cur.x = c.pos.x; cur.y = c.pos.y
        }
        events.append(.cursorMove(scanout: c.pos.scanoutID, x: c.pos.x, y: c.pos.y))
    }
}
