// GPUDevice+Resources: RESOURCE_CREATE_2D, RESOURCE_UNREF, ATTACH/DETACH_BACKING, RESOURCE_ASSIGN_UUID.
import GuestMemory
import Wire

extension GPUDevice {
    /// GPU2D-5: VIRTIO_GPU_CMD_RESOURCE_CREATE_2D.
    func resourceCreate2D(_ c: ResourceCreate2D) throws(GPUCommandError) {
        // [VIRTIO] 5.7.6.8: resource ids are chosen by the driver; 0 means "no resource", and an id in use is
        // not a new resource.
        guard c.resourceID != 0 else { throw .invalidResourceID(0, "id 0 is reserved") }
        guard resources[c.resourceID] == nil else { throw .invalidResourceID(c.resourceID, "already exists") }
        guard let format = GPUFormat(rawValue: c.format) else { throw .invalidParameter("unknown format \(c.format)") }
        guard c.width > 0, c.height > 0, c.width <= limits.maxDimension, c.height <= limits.maxDimension else {
            throw .invalidParameter("size \(c.width)x\(c.height) outside 1...\(limits.maxDimension)")
        }
        // Bound host memory: width*height*4 as a checked 64-bit product, compared with the quota by subtraction.
        let (pixels, o1) = UInt64(c.width).multipliedReportingOverflow(by: UInt64(c.height))
        let (bytes, o2) = pixels.multipliedReportingOverflow(by: GPUFormat.bytesPerPixel)
        guard !o1, !o2, bytes <= limits.hostMemoryQuota - hostBytes, bytes <= UInt64(Int.max) else {
            throw .outOfMemory("\(c.width)x\(c.height) exceeds the host memory quota")
        }
        guard resources.count < limits.maxResources else { throw .outOfMemory("\(limits.maxResources) resources") }
        resources[c.resourceID] = GPUResource(id: c.resourceID, format: format, width: c.width, height: c.height,
                                              byteSize: Int(bytes))
        hostBytes += bytes
    }

    /// GPU2D-5: VIRTIO_GPU_CMD_RESOURCE_UNREF. A resource still shown turns its scanouts off first (as QEMU does),
    /// so no scanout refers to a freed resource; its backing and quota are released.
    func resourceUnref(_ c: ResourceOnly) throws(GPUCommandError) {
        let res = try resource(c.resourceID)
        for (i, b) in scanouts.enumerated() where b?.resourceID == res.id { disableScanout(i) }
        detach(res)
        hostBytes -= res.byteSize
        resources[res.id] = nil
    }

    /// GPU2D-5.2: VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING; `nr_entries` `virtio_gpu_mem_entry`s follow the struct.
    func resourceAttachBacking(_ r: inout WireReader, dma: DMASpace) throws(GPUCommandError) {
        let c = try decode(&r, ResourceAttachBacking.init(from:))
        // Bound the count before anything is allocated (QEMU's limit, 16384). Choice: ERR_INVALID_PARAMETER.
        guard c.nrEntries > 0, c.nrEntries <= limits.maxBackingEntries else {
            throw .invalidParameter("nr_entries \(c.nrEntries) outside 1...\(limits.maxBackingEntries)")
        }
        // The entries must be in the request: count x size against the bytes present.
        guard UInt64(c.nrEntries) * UInt64(MemEntry.size) <= UInt64(r.remaining) else {
            throw .invalidParameter("\(c.nrEntries) entries announced, \(r.remaining) bytes present")
        }
        let res = try resource(c.resourceID)
        // [VIRTIO] 5.7.6.8 attaches backing to a resource without any; a second attach is refused (as QEMU).
        guard res.backing == nil else { throw .unspec("resource \(res.id) already has backing") }
        guard Int(c.nrEntries) <= limits.maxTotalBackingEntries - totalBackingEntries else {
            throw .outOfMemory("more than \(limits.maxTotalBackingEntries) backing entries on this device")
        }
        var ranges = [GuestRange]()
        ranges.reserveCapacity(Int(c.nrEntries))
        for i in 0..<Int(c.nrEntries) {
            let e = try decode(&r, MemEntry.init(from:))
            guard e.length > 0 else { throw .invalidParameter("backing entry \(i) is empty") }
            // Each entry must be readable guest memory now (no wrap, no gap); checked again at each transfer.
            // Choice: ERR_INVALID_PARAMETER (QEMU answers ERR_UNSPEC).
            do throws(GuestMemoryError) {
                _ = try dma.resolve(e.addr, length: UInt64(e.length), access: .read)
            } catch {
                throw .invalidParameter("backing entry \(i): \(error)")
            }
            ranges.append(GuestRange(address: e.addr, length: UInt64(e.length)))
        }
        res.backing = BackingTable(entries: ranges)
        totalBackingEntries += ranges.count
    }

    /// GPU2D-5.2: VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING. Detaching what is not attached is refused (as QEMU).
    func resourceDetachBacking(_ c: ResourceOnly) throws(GPUCommandError) {
        let res = try resource(c.resourceID)
        guard res.backing != nil else { throw .unspec("resource \(res.id) has no backing") }
        detach(res)
    }

    func detach(_ res: GPUResource) {
        totalBackingEntries -= res.backing?.entries.count ?? 0
        res.backing = nil
    }

    /// GPU2D-5: VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID (needs VIRTIO_GPU_F_RESOURCE_UUID): a random version-4 UUID,
    /// the same on every repeat for the resource's lifetime.
    func resourceAssignUUID(_ c: ResourceOnly) throws(GPUCommandError) -> [UInt8] {
        guard negotiatedFeatures & GPUFeatures.resourceUUID != 0 else {
            throw .unspec("RESOURCE_ASSIGN_UUID without VIRTIO_GPU_F_RESOURCE_UUID")
        }
        let res = try resource(c.resourceID)
        if let uuid = res.uuid { return uuid }
        var rng = SystemRandomNumberGenerator()
        var uuid = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        uuid[6] = (uuid[6] & 0x0f) | 0x40      // version 4
        uuid[8] = (uuid[8] & 0x3f) | 0x80      // RFC 4122 variant
        res.uuid = uuid
        return uuid                            // `virtio_gpu_resp_resource_uuid.uuid[16]`
    }
}

extension GPUDevice {
    /// The device addresses (IOVAs behind an IOMMU) of a resource's backing entries, or nil without a resource or
    /// backing (for DMA checks: `GET /v1/clients/{id}/dma-check`).
    public func backingAddresses(resource id: UInt32) -> [GuestRange]? { resources[id]?.backing?.entries }

    /// The resource shown on a scanout, if any.
    public func resourceID(onScanout index: Int) -> UInt32? {
        scanouts.indices.contains(index) ? scanouts[index]?.resourceID : nil
    }
}
