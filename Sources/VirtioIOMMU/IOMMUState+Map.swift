// IOMMUState+Map: MAP (IOMMU-6.4) and UNMAP (IOMMU-6.5), each validated in full before the mapping table changes.
import GuestMemory

extension IOMMUState {
    mutating func map(_ req: MapRequest) throws(IOMMURequestError) {
        let mapping = try validateMap(req)
        // Mutate: one insertion, nothing to roll back.
        domains[req.domain]?.mappings.insert(mapping)
        domains[req.domain]?.mappedBytes += mapping.range.sizeMinusOne + 1   // fits: checked against the limit
        mappedBytes += mapping.range.sizeMinusOne + 1
        mappingCount += 1
    }

    private func validateMap(_ req: MapRequest) throws(IOMMURequestError) -> IOMMUMapping {
        // IOMMU-6.4: "If the device doesn't recognize a flags bit, it MUST reject the request and set status to
        // VIRTIO_IOMMU_S_INVAL"; MAP_F_MMIO exists only with VIRTIO_IOMMU_F_MMIO negotiated.
        var known: IOMMUMapFlags = [.read, .write]
        if negotiated(IOMMUFeatures.mmio) { known.insert(.mmio) }
        guard req.flags & ~known.rawValue == 0 else { throw .unknownFlags(.map, req.flags) }
        // IOMMU-6.4: "virt_end MUST be strictly greater than virt_start": an inverted range is malformed.
        guard let range = IOVARange(first: req.virtStart, last: req.virtEnd) else {
            throw .invertedRange(.map, start: req.virtStart, end: req.virtEnd)
        }
        // IOMMU-6.4: "If virt_start, phys_start or (virt_end + 1) is not aligned on the page granularity, the
        // device SHOULD reject the request and set status to VIRTIO_IOMMU_S_RANGE."
        let granule = config.granule
        guard range.isAligned(to: granule), req.physStart & (granule - 1) == 0 else {
            throw .unaligned(range, phys: req.physStart)
        }
        // phys_end = phys_start + virt_end - virt_start must exist.
        guard !req.physStart.addingReportingOverflow(range.sizeMinusOne).overflow else {
            throw .physicalWraps(phys: req.physStart, range)
        }
        guard config.limits.domainRange.contains(req.domain) else { throw .domainOutOfRange(req.domain) }
        // IOMMU-6.1: "Any mapping request to virtual addresses outside of this range [input_range] fails."
        guard config.limits.inputRange.contains(range) else { throw .outsideInputRange(.map, range) }
        // IOMMU-6.4: "If domain does not exist, the device SHOULD reject the request ... NOENT."
        guard let domain = domains[req.domain] else { throw .unknownDomain(.map, req.domain) }
        // IOMMU-6.4: "If the domain is a bypass domain, the device SHOULD reject the request ... INVAL."
        guard !domain.bypass else { throw .bypassDomain(.map, domain: req.domain) }
        // IOMMU-6.7: "The device SHOULD reject a MAP request that overlaps a RESV_MEM region."
        for id in domain.endpoints {
            for region in endpoints[id]?.reservedRegions ?? [] where region.range.overlaps(range) {
                throw .overlapsReserved(range)
            }
        }
        // IOMMU-6.4: "If a mapping already exists in the requested range, the device SHOULD reject the request
        // and set status to VIRTIO_IOMMU_S_INVAL."
        guard domain.mappings.firstOverlap(with: range) == nil else { throw .overlapsMapping(range) }
        // The physical range "should be within the guest-physical address space" (MMIO maps device registers).
        let flags = IOMMUMapFlags(rawValue: req.flags)
        if !flags.contains(.mmio), let guestMemory,
           !Self.covers(guestMemory, first: req.physStart, last: req.physStart + range.sizeMinusOne) {
            throw .outsideGuestMemory(phys: req.physStart, range)
        }
        // Limits of this client.
        guard mappingCount < config.limits.maxMappings else { throw .limit(.mappings) }
        let (total, overflow) = mappedBytes.addingReportingOverflow(range.sizeMinusOne)
        guard !overflow, total < config.limits.maxMappedBytes else { throw .limit(.mappedBytes) }
        return IOMMUMapping(range: range, phys: req.physStart, flags: flags)
    }

    mutating func unmap(_ req: UnmapRequest) throws(IOMMURequestError) {
        let (from, to) = try validateUnmap(req)
        guard from < to else { return }
        var freed: UInt64 = 0
        let removed = domains[req.domain]!.mappings.remove(from: from, to: to)
        for m in removed { freed += m.range.sizeMinusOne + 1 }
        domains[req.domain]!.mappedBytes -= freed
        mappedBytes -= freed
        mappingCount -= removed.count
    }

    /// The positions of the mappings to remove. (A separate function, so no copy of the table outlives it and the
    /// removal happens in place.)
    private func validateUnmap(_ req: UnmapRequest) throws(IOMMURequestError) -> (MappingTable.Position, MappingTable.Position) {
        // IOMMU-6.5: reserved not zero: "MAY set the request status to VIRTIO_IOMMU_S_INVAL" (done, unmapping
        // nothing).
        guard req.reserved.allSatisfy({ $0 == 0 }) else { throw .reservedNotZero(.unmap) }
        guard let range = IOVARange(first: req.virtStart, last: req.virtEnd) else {
            throw .invertedRange(.unmap, start: req.virtStart, end: req.virtEnd)
        }
        guard config.limits.domainRange.contains(req.domain) else { throw .domainOutOfRange(req.domain) }
        // IOMMU-6.5: "If domain does not exist, the device SHOULD set the request status to VIRTIO_IOMMU_S_NOENT."
        guard let domain = domains[req.domain] else { throw .unknownDomain(.unmap, req.domain) }
        // IOMMU-6.5: "If the domain is a bypass domain, the device SHOULD reject the request ... INVAL."
        guard !domain.bypass else { throw .bypassDomain(.unmap, domain: req.domain) }
        // IOMMU-6.5: a mapping covered only in part: "SHOULD set the request status to VIRTIO_IOMMU_S_RANGE, and
        // SHOULD NOT remove any mapping". Otherwise every mapping in the range goes; unmapped parts are fine.
        switch domain.mappings.plan(unmapping: range) {
        case .split(let m): throw .splitsMapping(m.range)
        case .remove(let from, let to): return (from, to)
        }
    }

    /// Whether the union of `ranges` holds every byte of [first, last].
    static func covers(_ ranges: [GuestRange], first: UInt64, last: UInt64) -> Bool {
        var cursor = first
        while true {
            guard let r = ranges.first(where: { $0.length > 0 && cursor >= $0.address && cursor - $0.address < $0.length })
            else { return false }
            let rLast = r.address &+ (r.length - 1)
            if rLast >= last || rLast < r.address { return true }   // reaches `last` (or the top of the space)
            cursor = rLast + 1
        }
    }
}
