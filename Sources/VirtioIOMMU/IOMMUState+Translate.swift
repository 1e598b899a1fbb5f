// IOMMUState+Translate: an endpoint's DMA through its domain, checking the mapping's READ/WRITE/MMIO flags; every
// refusal is recorded as a fault for the eventq (IOMMU-6.8).
import GuestMemory

extension IOMMUState {
    enum TranslateFailure: Error, Equatable {
        case fault(address: UInt64, remaining: UInt64)
    }

    /// Guest-physical fragments for `length` bytes at `iova`, in order, adjacent ones merged.
    mutating func translate(endpoint id: UInt32, iova: UInt64, length: UInt64,
                            access: IOMMUAccess) throws(TranslateFailure) -> [GuestRange] {
        guard length > 0 else { return [] }
        guard let request = IOVARange(start: iova, length: length) else {
            return try refuse(.mapping, id, access, iova, length, "access wraps past 2^64")
        }
        // The mapping the previous translation of this endpoint used (forgotten on any change, see IOMMUState).
        if let hit = lastTranslation, hit.endpoint == id, hit.mapping.range.contains(request),
           !hit.mapping.flags.contains(.mmio), hit.mapping.flags.contains(access == .read ? .read : .write) {
            return [GuestRange(address: hit.mapping.phys + (iova - hit.mapping.range.first), length: length)]
        }
        // The common case first, in two lookups: attached (so managed: ATTACH checks that) to a translating domain.
        if let domainID = attachment[id], let domain = domains[domainID], !domain.bypass {
            return try walk(domain.mappings, endpoint: id, request: request, access: access)
        }
        // An endpoint this IOMMU does not manage has no state to consult: an internal error, reason UNKNOWN.
        guard let endpoint = endpoints[id] else {
            return try refuse(.unknown, id, access, iova, length, "endpoint is not managed by this IOMMU")
        }
        let domainID = attachment[id]
        let bypass = domainID.map { domains[$0]?.bypass ?? false } ?? unattachedBypass
        if bypass {
            // Identity, except RESV_MEM regions: accesses there must not reach anything (IOMMU-6.7).
            for region in endpoint.reservedRegions where region.range.overlaps(request) {
                return try refuse(.mapping, id, access, max(iova, region.range.first), length,
                                  "bypass access to reserved region \(region.range)")
            }
            return [GuestRange(address: iova, length: length)]
        }
        // IOMMU-5.1 / 6.1: "The device SHOULD NOT let unattached endpoints that are not in bypass mode access the
        // guest-physical address space."
        guard let domainID, let domain = domains[domainID] else {
            return try refuse(.domain, id, access, iova, length, "endpoint is not attached to a domain")
        }
        return try walk(domain.mappings, endpoint: id, request: request, access: access)
    }

    private mutating func walk(_ table: MappingTable, endpoint id: UInt32, request: IOVARange,
                               access: IOMMUAccess) throws(TranslateFailure) -> [GuestRange] {
        var out: [GuestRange] = []
        var address = request.first
        var i = table.firstPosition(endingAtOrAfter: address)
        while true {
            let remainingMinusOne = request.last - address
            guard i < table.end, table[i].range.first <= address else {
                return try refuse(.mapping, id, access, address, remainingMinusOne + 1, "not mapped")
            }
            let m = table[i]
            // IOMMU-6.4: "The device MUST NOT allow writes to a range mapped without VIRTIO_IOMMU_MAP_F_WRITE"; reads
            // need VIRTIO_IOMMU_MAP_F_READ (write-only mappings are not readable: the MAY is not taken).
            let needed: IOMMUMapFlags = access == .read ? .read : .write
            guard m.flags.contains(needed) else {
                return try refuse(.mapping, id, access, address, remainingMinusOne + 1,
                                  "mapping \(m.range) lacks \(access == .read ? "READ" : "WRITE")")
            }
            // IOMMU-6.4: MMIO accesses are "not ... split into multiple accesses or combined with other accesses":
            // the whole access must lie in this one mapping.
            if m.flags.contains(.mmio), !m.range.contains(request) {
                return try refuse(.mapping, id, access, address, remainingMinusOne + 1,
                                  "access would split or combine MMIO mapping \(m.range)")
            }
            let takeMinusOne = min(remainingMinusOne, m.range.last - address)
            let phys = m.phys + (address - m.range.first)     // fits: phys_end was checked at MAP
            if let last = out.last, !m.flags.contains(.mmio), last.address &+ last.length == phys,
               last.address &+ last.length != 0 {
                out[out.count - 1].length += takeMinusOne + 1
            } else {
                out.append(GuestRange(address: phys, length: takeMinusOne + 1))
            }
            if takeMinusOne == remainingMinusOne {
                lastTranslation = (id, m)
                return out
            }
            address += takeMinusOne + 1                        // <= request.last: no wrap
            i = table.position(after: i)
        }
    }

    private mutating func refuse(_ reason: IOMMUFaultReason, _ endpoint: UInt32, _ access: IOMMUAccess,
                                 _ address: UInt64, _ remaining: UInt64, _ why: String) throws(TranslateFailure) -> [GuestRange] {
        recordFault(IOMMUFault(reason: reason, access: access, endpoint: endpoint, address: address), why: why)
        throw .fault(address: address, remaining: remaining)
    }
}
