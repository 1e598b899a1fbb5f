// Limits: the caps one client's IOMMU may use (each with the threat it bounds), the device's fixed configuration,
// and the counters of what was refused.

public struct IOMMULimits: Sendable {
    /// Bytes mapped across all domains. Bounds how much guest memory a client exposes to DMA. Past it: NOMEM.
    public var maxMappedBytes: UInt64 = 16 << 30
    /// Live mappings across all domains. Bounds the mapping tables (host memory, MAP/UNMAP cost). Past it: NOMEM.
    public var maxMappings: Int = 1 << 16
    /// Live domains. Bounds the domain table. Past it: ATTACH answers NOMEM.
    public var maxDomains: Int = 64
    /// The IOVA window, presented as `input_range`: MAP outside it answers RANGE.
    public var inputRange: IOVARange = IOVARange(first: 0, last: (1 << 48) - 1)!
    /// Domain ids accepted, presented as `domain_range`: others answer RANGE.
    public var domainRange: ClosedRange<UInt32> = 0...0xffff
    /// Fault reports waiting for the eventq. Bounds memory under a fault flood; the rest are counted as dropped.
    public var maxPendingFaults: Int = 256
    /// Guest-caused warnings logged per second per device; the rest are counted and summarized.
    public var warningsPerSecond: Int = 20
    public init() {}
}

/// An endpoint the device manages: its id (platform-specific, e.g. a PCI requester id) and reserved regions.
public struct IOMMUEndpointConfig: Sendable, Equatable {
    public var id: UInt32
    public var reservedRegions: [IOMMUReservedRegion]
    public init(id: UInt32, reservedRegions: [IOMMUReservedRegion] = [.x86MSIDoorbell]) {
        self.id = id
        self.reservedRegions = reservedRegions
    }
}

public struct IOMMUConfiguration: Sendable {
    /// The endpoints behind this IOMMU; any other id answers NOENT.
    public var endpoints: [IOMMUEndpointConfig]
    /// `page_size_mask`: the lowest set bit is the granularity. Default: 4 KiB and every larger power of two.
    public var pageSizeMask: UInt64 = ~UInt64(0xfff)
    /// `probe_size`: bytes of PROBE properties.
    public var probeSize: UInt32 = 512
    public var limits: IOMMULimits

    public init(endpoints: [IOMMUEndpointConfig], limits: IOMMULimits = .init()) {
        self.endpoints = endpoints
        self.limits = limits
    }

    /// Vireo's own configuration, checked once: a bad one is a bug, not guest input.
    func validate() {
        precondition(pageSizeMask != 0, "page_size_mask needs at least one bit")
        precondition(Set(endpoints.map(\.id)).count == endpoints.count, "endpoint ids must be unique")
        precondition(limits.maxPendingFaults > 0 && limits.maxDomains >= 0 && limits.maxMappings >= 0)
        for ep in endpoints {
            // RESV_MEM: at most one MSI region per endpoint, none overlapping.
            precondition(ep.reservedRegions.filter { $0.subtype == .msi }.count <= 1, "one MSI region per endpoint")
            for (i, a) in ep.reservedRegions.enumerated() {
                for b in ep.reservedRegions[(i + 1)...] {
                    precondition(!a.range.overlaps(b.range), "reserved regions of endpoint \(ep.id) overlap")
                }
            }
            precondition(ep.reservedRegions.count * IOMMUReservedRegion.propertySize <= Int(probeSize),
                         "probe_size too small for endpoint \(ep.id)'s properties")
        }
    }

    /// The page granularity: the least significant bit of page_size_mask.
    var granule: UInt64 { pageSizeMask & (~pageSizeMask &+ 1) }
}

/// Counters; none is ever reset except by a new device.
public struct IOMMUStatistics: Sendable, Equatable {
    public var requests: UInt64 = 0
    /// Requests answered with a status other than OK.
    public var refusedRequests: UInt64 = 0
    /// Requests returned with nothing written (used length 0): unknown type, no head, no room for the tail.
    public var unansweredRequests: UInt64 = 0
    public var limitRefusals: [IOMMULimitKind: UInt64] = [:]
    public var refusedTranslations: UInt64 = 0
    public var faultsRecorded: UInt64 = 0
    /// Faults not queued because `maxPendingFaults` were already waiting: counted, never lost silently.
    public var faultsDropped: UInt64 = 0
}
