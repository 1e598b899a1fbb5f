// ClientCounters: what one client (the frontend this process serves: its GPU and IOMMU connections) was refused,
// counted from process start so that monitoring sees monotonic counters across reconnects. Every refusal is also
// logged (rate-limited) where it happens; these are the numbers behind `GET /v1/clients`.
import Synchronization

public final class ClientCounters: Sendable {
    public struct Values: Sendable, Equatable, Codable {
        /// GPU connections accepted (a reconnect counts again).
        public var gpuConnections: UInt64 = 0
        public var iommuConnections: UInt64 = 0
        /// GPU commands answered, and those answered with an error response, by its spec name
        /// (e.g. "VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY" for a quota refusal).
        public var gpuCommands: UInt64 = 0
        public var gpuRefusals: [String: UInt64] = [:]
        /// Descriptor chains given back unused (malformed chain, unreadable request, unwritable response).
        public var badChains: UInt64 = 0
        /// vhost-user messages refused (NACKed, or the connection closed for them).
        public var vhostUserRefusals: UInt64 = 0
        /// The frontend's IOMMU (VIRTIO_F_ACCESS_PLATFORM): misses asked, misses never answered, accesses the IOTLB
        /// refused for their direction or address (each reported to the frontend as ACCESS_FAIL).
        public var iotlbMisses: UInt64 = 0
        public var iotlbMissesUnanswered: UInt64 = 0
        public var iotlbAccessFailures: UInt64 = 0
        public init() {}
    }

    private let values = Mutex(Values())
    public init() {}

    public var snapshot: Values { values.withLock { $0 } }
    func count(_ change: (inout Values) -> Void) { values.withLock { change(&$0) } }

}
