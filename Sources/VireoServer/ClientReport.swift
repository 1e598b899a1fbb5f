// ClientReport: one client's limits, usage and refusal counters as `GET /v1/clients` shows them (snake_case JSON).
// A vireo-gpu process serves one client (one VM's frontend, like QEMU's backend program), so the list has one entry.
import VirtioGPU
import VirtioIOMMU

public struct ClientReport: Encodable, Sendable {
    public struct GPULimits: Encodable, Sendable {
        public var hostMemoryQuotaBytes: UInt64
        public var maxResources: Int
        public var maxBackingEntries: UInt32
        enum CodingKeys: String, CodingKey {
            case hostMemoryQuotaBytes = "host_memory_quota_bytes", maxResources = "max_resources"
            case maxBackingEntries = "max_backing_entries"
        }
    }
    public struct IOMMUReport: Encodable, Sendable {
        public var endpoint: UInt32
        public var maxMappedBytes: UInt64
        public var maxMappings: Int
        public var maxDomains: Int
        public var iovaFirst: UInt64
        public var iovaLast: UInt64
        public var mappedBytes: UInt64
        public var mappings: Int
        public var domains: Int
        public var requests: UInt64
        public var refusedRequests: UInt64
        public var unansweredRequests: UInt64
        public var limitRefusals: [String: UInt64]
        public var refusedTranslations: UInt64
        public var faultsRecorded: UInt64
        public var faultsDropped: UInt64
        enum CodingKeys: String, CodingKey {
            case endpoint, mappings, domains, requests
            case maxMappedBytes = "max_mapped_bytes", maxMappings = "max_mappings", maxDomains = "max_domains"
            case iovaFirst = "iova_first", iovaLast = "iova_last", mappedBytes = "mapped_bytes"
            case refusedRequests = "refused_requests", unansweredRequests = "unanswered_requests"
            case limitRefusals = "limit_refusals", refusedTranslations = "refused_translations"
            case faultsRecorded = "faults_recorded", faultsDropped = "faults_dropped"
        }
    }
    public struct Counters: Encodable, Sendable {
        public var values: ClientCounters.Values
        enum CodingKeys: String, CodingKey {
            case gpuConnections = "gpu_connections", iommuConnections = "iommu_connections"
            case gpuCommands = "gpu_commands", gpuRefusals = "gpu_refusals", badChains = "bad_chains"
            case vhostUserRefusals = "vhost_user_refusals", iotlbMisses = "iotlb_misses"
            case iotlbMissesUnanswered = "iotlb_misses_unanswered", iotlbAccessFailures = "iotlb_access_failures"
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(values.gpuConnections, forKey: .gpuConnections)
            try c.encode(values.iommuConnections, forKey: .iommuConnections)
            try c.encode(values.gpuCommands, forKey: .gpuCommands)
            try c.encode(values.gpuRefusals, forKey: .gpuRefusals)
            try c.encode(values.badChains, forKey: .badChains)
            try c.encode(values.vhostUserRefusals, forKey: .vhostUserRefusals)
            try c.encode(values.iotlbMisses, forKey: .iotlbMisses)
            try c.encode(values.iotlbMissesUnanswered, forKey: .iotlbMissesUnanswered)
            try c.encode(values.iotlbAccessFailures, forKey: .iotlbAccessFailures)
        }
    }

    public var id: Int
    /// A GPU frontend is connected now.
    public var connected: Bool
    public var gpuLimits: GPULimits
    /// Vireo's own virtio-iommu for this client (`--iommu-socket`); absent without one.
    public var iommu: IOMMUReport?
    public var counters: Counters
    /// Sum of every refusal counted above (a single number to alert on).
    public var refusalsTotal: UInt64

    enum CodingKeys: String, CodingKey {
        case id, connected, iommu, counters
        case gpuLimits = "gpu_limits", refusalsTotal = "refusals_total"
    }
}

extension GPUServer {
    /// The clients this process serves, for `GET /v1/clients`.
    public func clientReports() -> [ClientReport] {
        let values = counters.snapshot
        var iommu: ClientReport.IOMMUReport?
        var total = values.gpuRefusals.values.reduce(0, &+) &+ values.badChains &+ values.vhostUserRefusals
            &+ values.iotlbAccessFailures &+ values.iotlbMissesUnanswered
        if let client {
            let stats = client.iommu.statistics, usage = client.iommu.usage, limits = client.limits
            iommu = .init(endpoint: client.endpoint, maxMappedBytes: limits.maxMappedBytes,
                          maxMappings: limits.maxMappings, maxDomains: limits.maxDomains,
                          iovaFirst: limits.inputRange.first, iovaLast: limits.inputRange.last,
                          mappedBytes: usage.mappedBytes, mappings: usage.mappings, domains: usage.domains,
                          requests: stats.requests, refusedRequests: stats.refusedRequests,
                          unansweredRequests: stats.unansweredRequests,
                          limitRefusals: Dictionary(uniqueKeysWithValues: stats.limitRefusals.map { (snakeCase($0.key.rawValue), $0.value) }),
                          refusedTranslations: stats.refusedTranslations, faultsRecorded: stats.faultsRecorded,
                          faultsDropped: stats.faultsDropped)
            total = total &+ stats.refusedRequests &+ stats.unansweredRequests &+ stats.refusedTranslations
        }
        let limits = config.limits
        return [ClientReport(id: 0, connected: displays != nil,
                             gpuLimits: .init(hostMemoryQuotaBytes: limits.hostMemoryQuota,
                                              maxResources: limits.maxResources,
                                              maxBackingEntries: limits.maxBackingEntries),
                             iommu: iommu, counters: .init(values: values), refusalsTotal: total)]
    }
}

/// "mappedBytes" -> "mapped_bytes", for JSON keys made from Swift names.
func snakeCase(_ name: String) -> String {
    name.reduce(into: "") { out, c in
        if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
    }
}
