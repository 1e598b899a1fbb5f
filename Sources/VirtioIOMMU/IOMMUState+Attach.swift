// IOMMUState+Attach: ATTACH (IOMMU-6.2) and DETACH (IOMMU-6.3): endpoints joining and leaving domains.

extension IOMMUState {
    mutating func attach(_ req: AttachRequest) throws(IOMMURequestError) {
        // IOMMU-6.2: "If the reserved field of an ATTACH request is not zero, the device MUST reject the request
        // and set status to VIRTIO_IOMMU_S_INVAL."
        guard req.reserved.allSatisfy({ $0 == 0 }) else { throw .reservedNotZero(.attach) }
        // IOMMU-6.2: "If the device does not recognize a flags bit, it MUST reject the request": ATTACH_F_BYPASS
        // is known only with VIRTIO_IOMMU_F_BYPASS_CONFIG negotiated (IOMMU-5.1: no bypass otherwise).
        let known = negotiated(IOMMUFeatures.bypassConfig) ? IOMMUAttachFlags.bypass : 0
        guard req.flags & ~known == 0 else { throw .unknownFlags(.attach, req.flags) }
        // IOMMU-6.2: "If the endpoint ... doesn't exist, the device MUST reject the request ... NOENT."
        guard let endpoint = endpoints[req.endpoint] else { throw .unknownEndpoint(req.endpoint) }
        // IOMMU-6.1: domain ids outside domain_range are out of range.
        guard config.limits.domainRange.contains(req.domain) else { throw .domainOutOfRange(req.domain) }
        let wantsBypass = req.flags & IOMMUAttachFlags.bypass != 0
        let current = attachment[req.endpoint]
        if let domain = domains[req.domain] {
            // IOMMU-6.2: "If the domain already exists and the VIRTIO_IOMMU_ATTACH_F_BYPASS flag is not consistent
            // with that domain, the device SHOULD reject the request and set status to VIRTIO_IOMMU_S_INVAL."
            guard domain.bypass == wantsBypass else { throw .bypassMismatch(domain: req.domain) }
            if current == req.domain { return }   // already attached there: nothing changes
            // IOMMU-6.2: properties incompatible with the domain's: the endpoint's reserved regions must not be
            // mapped there, else "the device SHOULD reject the request and set status to VIRTIO_IOMMU_S_UNSUPP".
            for region in endpoint.reservedRegions where domain.mappings.firstOverlap(with: region.range) != nil {
                throw .incompatibleEndpoint(endpoint: req.endpoint, domain: req.domain, region.range)
            }
        } else {
            // A new domain; the endpoint's current domain ceases to exist if it is its last endpoint.
            let freed = current.map { domains[$0]?.endpoints.count == 1 ? 1 : 0 } ?? 0
            guard domains.count - freed < config.limits.maxDomains else { throw .limit(.domains) }
        }
        // IOMMU-6.2: already attached elsewhere: "behave as if the driver issued a DETACH request with this
        // endpoint, followed by the ATTACH request". Multiple endpoints may share a domain (MAY: done).
        if let current { detachUnchecked(endpoint: req.endpoint, from: current) }
        domains[req.domain, default: IOMMUDomain(bypass: wantsBypass)].endpoints.insert(req.endpoint)
        attachment[req.endpoint] = req.domain
    }

    mutating func detach(_ req: DetachRequest) throws(IOMMURequestError) {
        // IOMMU-6.3: reserved is ignored (decoding skipped it). Unknown endpoint: MUST NOENT.
        guard endpoints[req.endpoint] != nil else { throw .unknownEndpoint(req.endpoint) }
        guard config.limits.domainRange.contains(req.domain) else { throw .domainOutOfRange(req.domain) }
        // IOMMU-6.3: "If the domain ... doesn't exist, or if the endpoint ... isn't attached to this domain, then
        // the device MAY set the request status to VIRTIO_IOMMU_S_INVAL" (done).
        guard domains[req.domain] != nil else { throw .unknownDomain(.detach, req.domain) }
        guard attachment[req.endpoint] == req.domain else {
            throw .notAttached(endpoint: req.endpoint, domain: req.domain)
        }
        detachUnchecked(endpoint: req.endpoint, from: req.domain)
    }

    /// IOMMU-6.3: after this the endpoint reaches nothing of the domain; a domain without endpoints ceases to
    /// exist, its mappings with it.
    private mutating func detachUnchecked(endpoint: UInt32, from domainID: UInt32) {
        attachment[endpoint] = nil
        domains[domainID]?.endpoints.remove(endpoint)
        if let domain = domains[domainID], domain.endpoints.isEmpty {
            mappedBytes -= domain.mappedBytes
            mappingCount -= domain.mappings.count
            domains[domainID] = nil
        }
    }
}
