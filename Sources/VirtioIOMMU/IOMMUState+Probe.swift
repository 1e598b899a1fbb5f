// IOMMUState+Probe: PROBE (IOMMU-6.6) with the RESV_MEM property (IOMMU-6.7).

extension IOMMUState {
    /// The `properties` bytes (at most `propertiesLength`; the caller zero-fills the rest).
    func probe(_ req: ProbeRequest, propertiesLength: Int) throws(IOMMURequestError) -> [UInt8] {
        // IOMMU-6.6: reserved is ignored. "If the endpoint ... doesn't exist, then the device SHOULD reject the
        // request and set status to VIRTIO_IOMMU_S_NOENT."
        guard let endpoint = endpoints[req.endpoint] else { throw .unknownEndpoint(req.endpoint) }
        // IOMMU-6.6: "If the properties list is smaller than probe_size, the device SHOULD NOT write any property.
        // It SHOULD reject the request and set status to VIRTIO_IOMMU_S_INVAL."
        guard propertiesLength >= Int(config.probeSize) else {
            throw .probeBufferTooSmall(needed: Int(config.probeSize), available: propertiesLength)
        }
        // IOMMU-6.6: each property follows the previous one (length + 4) bytes on; the rest is zero, which reads
        // as the empty property that ends the list. IOMMU-6.7: at most one MSI region, none overlapping
        // (IOMMUConfiguration.validate), reserved fields zero.
        var out: [UInt8] = []
        out.reserveCapacity(Int(config.probeSize))
        for region in endpoint.reservedRegions { out += region.propertyBytes }
        return out
    }
}
