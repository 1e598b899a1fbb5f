// GPUDevice+Scanout: GET_DISPLAY_INFO, GET_EDID, SET_SCANOUT, RESOURCE_FLUSH and copying into the DisplaySet.
import Display
import VireoSystem
import Wire

extension GPUDevice {
    /// GPU2D-5: VIRTIO_GPU_CMD_GET_DISPLAY_INFO answers `virtio_gpu_resp_display_info`: 16 `pmodes`
    /// (r, enabled, flags), one per scanout, zeros past the scanout count.
    func getDisplayInfo() -> [UInt8] {
        var w = WireWriter(capacity: DisplaySet.maxScanouts * 24)
        let modes = displays.modes.prefix(DisplaySet.maxScanouts)
        for m in modes {
            Rect(x: m.x, y: m.y, width: m.width, height: m.height).encode(into: &w)
            w.write(UInt32(m.enabled ? 1 : 0))
            w.write(UInt32(0))
        }
        w.write(zeros: (DisplaySet.maxScanouts - modes.count) * 24)
        return w.bytes
    }

    /// GPU2D-5: VIRTIO_GPU_CMD_GET_EDID (needs VIRTIO_GPU_F_EDID) answers `virtio_gpu_resp_edid`: size, padding,
    /// edid[1024]. Choice: a scanout id past the count is ERR_INVALID_SCANOUT_ID (QEMU: ERR_INVALID_PARAMETER).
    func getEDID(_ c: GetEDID) throws(GPUCommandError) -> [UInt8] {
        guard negotiatedFeatures & GPUFeatures.edid != 0 else { throw .unspec("GET_EDID without VIRTIO_GPU_F_EDID") }
        let index = try scanoutIndex(c.scanout)
        var blob: [UInt8]
        if let given = frontendEDID[index], !given.isEmpty {
            blob = Array(given.prefix(1024))
        } else {
            let m = displays.modes[index]
            blob = EDIDGenerator.edid(width: m.width, height: m.height, serial: UInt32(index))
        }
        var w = WireWriter(capacity: 8 + 1024)
        w.write(UInt32(blob.count))
        w.write(UInt32(0))
        w.write(bytes: blob)
        w.write(zeros: 1024 - blob.count)
        return w.bytes
    }

    /// GPU2D-5: VIRTIO_GPU_CMD_SET_SCANOUT. Resource 0 turns the scanout off; otherwise the scanout shows rect `r`
    /// of the resource at once (its current content is copied and announced as a whole-scanout update).
    func setScanout(_ c: SetScanout) throws(GPUCommandError) {
        let index = try scanoutIndex(c.scanoutID)
        if c.resourceID == 0 { disableScanout(index); return }
        let res = try resource(c.resourceID)
        guard !c.r.isEmpty, c.r.isInside(width: res.width, height: res.height) else {
            throw .invalidParameter("scanout rect \(c.r) empty or outside resource \(res.id) " +
                                    "(\(res.width)x\(res.height))")
        }
        scanouts[index] = ScanoutBinding(resourceID: res.id, rect: c.r)
        spareFrames[index] = nil
        displays.enable(index, width: c.r.width, height: c.r.height)
        events.append(.scanout(index: index, width: c.r.width, height: c.r.height))
        present(res, rect: c.r, on: index)
    }

    /// GPU2D-5: VIRTIO_GPU_CMD_RESOURCE_FLUSH: every scanout showing the resource gets the part of `r` inside its
    /// source rectangle.
    func resourceFlush(_ c: ResourceFlush) throws(GPUCommandError) {
        let res = try resource(c.resourceID)
        guard c.r.isInside(width: res.width, height: res.height) else {
            throw .invalidParameter("flush rect \(c.r) outside resource \(res.id) (\(res.width)x\(res.height))")
        }
        for (i, b) in scanouts.enumerated() where b?.resourceID == res.id {
            present(res, rect: c.r.intersection(b!.rect), on: i)
        }
    }

    /// The scanout index for a guest's scanout id. [VIRTIO] 5.7.6.8: ids are below num_scanouts.
    func scanoutIndex(_ id: UInt32) throws(GPUCommandError) -> Int {
        guard id < UInt32(displays.count) else { throw .invalidScanoutID(id) }
        return Int(id)
    }

    func disableScanout(_ index: Int) {
        scanouts[index] = nil
        spareFrames[index] = nil
        displays.disable(index)
        events.append(.scanout(index: index, width: 0, height: 0))
    }

    /// Shows `rect` (resource coordinates, inside the scanout's source rect) on the scanout: records the damage
    /// in scanout coordinates; the copy into the DisplaySet follows in `commitPresents()`.
    func present(_ res: GPUResource, rect: Rect, on index: Int) {
        guard let b = scanouts[index], !rect.isEmpty else { return }
        let damage = Rect(x: rect.x - b.rect.x, y: rect.y - b.rect.y, width: rect.width, height: rect.height)
        pendingPresents.append(PendingPresent(index: index, resourceID: res.id, rect: rect, damage: damage))
        events.append(.update(index: index, rect: damage))
    }

    /// Copies the pending flushes into the DisplaySet, converting to B,G,R,X (one flush per lock, never torn).
    /// A flush of a whole B,G,R,X resource shown whole is not copied: the DisplaySet shares the resource's pixels.
    public func commitPresents() {
        for p in pendingPresents {
            guard let res = resources[p.resourceID] else { continue }
            if presentWithoutCopy(p, res) { continue }
            let format = res.format, srcStride = res.stride, rect = p.rect, damage = p.damage
            res.pixels.withUnsafeBytes { src in
                // Invariant (SET_SCANOUT/RESOURCE_FLUSH checks): rect lies inside the resource.
                guard src.count >= (Int(rect.y) + Int(rect.height)) * srcStride else { return }
                displays.update(p.index, damage: damage) { dst, dstStride in
                    guard dst.count >= (Int(damage.y) + Int(damage.height)) * dstStride,
                          (Int(damage.x) + Int(damage.width)) * 4 <= dstStride else { return }
                    for row in 0..<Int(rect.height) {
                        let s = (Int(rect.y) + row) * srcStride + Int(rect.x) * 4
                        let d = (Int(damage.y) + row) * dstStride + Int(damage.x) * 4
                        format.convertRow(from: src.baseAddress! + s, to: dst.baseAddress! + d, count: Int(rect.width))
                    }
                }
            }
        }
        pendingPresents.removeAll(keepingCapacity: true)
    }

    /// The whole-frame case of `commitPresents`: when the flush covers the whole resource, the scanout shows the whole
    /// resource (so its picture has the resource's size and stride) and the bytes need no conversion, the DisplaySet
    /// takes the resource's pixels copy-on-write (Swift arrays): a later write to either side copies first, so
    /// the DisplaySet keeps exactly this flush. The picture it gives back becomes the scanout's spare frame.
    func presentWithoutCopy(_ p: PendingPresent, _ res: GPUResource) -> Bool {
        let whole = Rect(x: 0, y: 0, width: res.width, height: res.height)
        guard res.format.shuffle == .none, p.rect == whole, p.damage == whole,
              let old = displays.replaceFrame(p.index, width: res.width, height: res.height, with: res.pixels)
        else { return false }
        // Keep the old picture for the next whole transfer, unless it is this resource's own storage already
        // (a second flush without a transfer between): reusing that would only force a copy.
        let same = old.withUnsafeBytes { o in res.pixels.withUnsafeBytes { o.baseAddress == $0.baseAddress } }
        spareFrames[p.index] = (!same && old.count == res.pixels.count) ? old : nil
        return true
    }

    /// For a TRANSFER_TO_HOST_2D that rewrites all of `res`: a spare frame of a scanout showing it, to write into
    /// instead of the current pixels (which the DisplaySet may share, and which would be copied first).
    func takeSpareFrame(for res: GPUResource) -> [UInt8]? {
        for (i, b) in scanouts.enumerated() where b?.resourceID == res.id {
            if let spare = spareFrames.removeValue(forKey: i), spare.count == res.pixels.count { return spare }
        }
        return nil
    }

    /// The pixels of `damage` (scanout coordinates) on scanout `index` as B,G,R,X rows for an UPDATE: straight
    /// from the resource when its format has that byte order already (B8G8R8X8/A8: the fourth byte goes as it
    /// is, as QEMU's backend sends it), else converted into a reused buffer. nil when the scanout shows nothing
    /// or the rect is not inside it. The rows are valid only inside `body`.
    public func withScanoutPixels<R>(_ index: Int, _ damage: Rect, _ body: (StridedRows) throws -> R) rethrows -> R? {
        guard scanouts.indices.contains(index), let b = scanouts[index], let res = resources[b.resourceID],
              damage.isInside(width: b.rect.width, height: b.rect.height) else { return nil }
        // b.rect lies inside the resource (SET_SCANOUT checked it), so these are resource coordinates inside it.
        let x = Int(b.rect.x) + Int(damage.x), y = Int(b.rect.y) + Int(damage.y)
        let rowBytes = Int(damage.width) * 4, height = Int(damage.height), stride = res.stride
        if res.format.shuffle == .none {
            return try res.pixels.withUnsafeBytes { px in
                guard let rows = StridedRows(buffer: px, offset: y * stride + x * 4, stride: stride,
                                             rowBytes: rowBytes, count: height) else { return nil }
                return try body(rows)
            }
        }
        let need = rowBytes * height
        if conversionBuffer.count < need { conversionBuffer = [UInt8](repeating: 0, count: need) }
        let format = res.format
        let converted: Bool = res.pixels.withUnsafeBytes { px in
            guard let src = StridedRows(buffer: px, offset: y * stride + x * 4, stride: stride, rowBytes: rowBytes,
                                        count: height) else { return false }
            conversionBuffer.withUnsafeMutableBytes { out in
                for row in 0..<height {
                    format.convertRow(from: px.baseAddress! + src.offset + row * stride,
                                      to: out.baseAddress! + row * rowBytes, count: Int(damage.width))
                }
            }
            return true
        }
        guard converted else { return nil }
        return try conversionBuffer.withUnsafeBytes { out in
            guard let rows = StridedRows(buffer: out, offset: 0, stride: rowBytes, rowBytes: rowBytes,
                                         count: height) else { return nil }
            return try body(rows)
        }
    }
}

/// A flush shown on a scanout whose DisplaySet copy is still to be made.
struct PendingPresent {
    var index: Int
    var resourceID: UInt32
    var rect: Rect     // resource coordinates
    var damage: Rect   // scanout coordinates
}
