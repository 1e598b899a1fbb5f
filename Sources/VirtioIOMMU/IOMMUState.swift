// IOMMUState: everything the device knows (features, config, domains, endpoints, pending faults), kept behind one
// lock by IOMMUDevice. Requests are decoded, validated, then applied; a refused request changes nothing.
import GuestMemory
import Logging
import VireoLogging
import Wire

struct IOMMUDomain: Sendable {
    /// Created by ATTACH with VIRTIO_IOMMU_ATTACH_F_BYPASS: its endpoints bypass translation; no MAP/UNMAP.
    let bypass: Bool
    var endpoints: Set<UInt32> = []
    var mappings = MappingTable()
    var mappedBytes: UInt64 = 0
}

enum DecodedRequest {
    case attach(AttachRequest), detach(DetachRequest), map(MapRequest), unmap(UnmapRequest), probe(ProbeRequest)
}

struct IOMMUState: Sendable {
    /// The writable part of a request is answered in full (the tail is its last 4 bytes); bigger ones are refused
    /// unanswered so a guest cannot make the device allocate without bound.
    static let maxWritableLength = 1 << 16

    let config: IOMMUConfiguration
    let endpoints: [UInt32: IOMMUEndpointConfig]
    // Every field a translation depends on forgets `lastTranslation` when it changes (any request that touches
    // them, a reset, a config write): the cache can never outlive what it was read from.
    var negotiated: UInt64 = 0 { didSet { lastTranslation = nil } }
    /// Config field `bypass`: 0 at start (IOMMU-5.1), kept on device reset, 0 again on system reset.
    var bypassField: UInt8 = 0 { didSet { lastTranslation = nil } }
    /// Endpoint id -> domain id.
    var attachment: [UInt32: UInt32] = [:] { didSet { lastTranslation = nil } }
    var domains: [UInt32: IOMMUDomain] = [:] { didSet { lastTranslation = nil } }
    /// The mapping the last successful translation used, and for which endpoint: DMA walks a buffer in order, so
    /// most translations fall in the same mapping (a frame's backing entries in one large mapping).
    var lastTranslation: (endpoint: UInt32, mapping: IOMMUMapping)?
    var mappedBytes: UInt64 = 0
    var mappingCount = 0
    /// Guest-physical RAM; MAP of normal memory outside it answers RANGE. nil: not known, not checked.
    var guestMemory: [GuestRange]?
    var faults: FaultQueue
    var stats = IOMMUStatistics()
    var warnings: GuestWarningLog

    init(config: IOMMUConfiguration, logger: Logger) {
        config.validate()
        precondition(Int(config.probeSize) + ReqTail.size <= Self.maxWritableLength)
        self.config = config
        endpoints = Dictionary(uniqueKeysWithValues: config.endpoints.map { ($0.id, $0) })
        faults = FaultQueue(capacity: config.limits.maxPendingFaults)
        warnings = GuestWarningLog(logger: logger, perSecond: config.limits.warningsPerSecond,
                                   metadata: ["device": "virtio-iommu"])
    }

    func negotiated(_ feature: UInt64) -> Bool { negotiated & feature != 0 }

    /// IOMMU-5.1: unattached endpoints bypass translation only when the driver accepted the bypass feature
    /// (VIRTIO_IOMMU_F_BYPASS_CONFIG; the legacy F_BYPASS is never offered) and set `bypass` to 1.
    var unattachedBypass: Bool { negotiated(IOMMUFeatures.bypassConfig) && bypassField == 1 }

    /// Device reset: "endpoints are not attached to any domain"; `bypass` is kept.
    mutating func reset() {
        attachment = [:]
        domains = [:]
        mappedBytes = 0
        mappingCount = 0
        negotiated = 0
        faults.discardAll()
    }

    /// Answers one request: the bytes for the device-writable part (empty: used length 0) and the status written.
    mutating func handle(_ request: [UInt8], writableLength: Int) -> (response: [UInt8], status: IOMMUStatus?) {
        stats.requests &+= 1
        var reader = WireReader(request)
        // IOMMU-6.1: "When the device fails to parse a request ... it returns the buffers without writing to them."
        guard let head = try? ReqHead(from: &reader) else {
            return unanswered("request of \(request.count) bytes has no virtio_iommu_req_head")
        }
        // IOMMU-6.1: "If a request type is not recognized, the device SHOULD NOT write the buffer and SHOULD set
        // the used length to zero."
        guard let type = IOMMURequestType(rawValue: head.type) else {
            return unanswered("unknown request type \(head.type)")
        }
        // IOMMU-6.6: PROBE without VIRTIO_IOMMU_F_PROBE: "SHOULD NOT write the buffer and SHOULD set the used
        // length to zero" (a feature not negotiated is treated as not offered).
        if type == .probe && !negotiated(IOMMUFeatures.probe) {
            return unanswered("PROBE without VIRTIO_IOMMU_F_PROBE negotiated")
        }
        guard writableLength >= ReqTail.size, writableLength <= Self.maxWritableLength else {
            return unanswered("\(type): device-writable part of \(writableLength) bytes cannot hold the tail")
        }
        let bodyLength = writableLength - ReqTail.size
        var body: [UInt8] = []
        let status: IOMMUStatus
        do throws(IOMMURequestError) {
            body = try execute(type, &reader, bodyLength: bodyLength)
            status = .ok    // IOMMU-6.1: "SHOULD set status to VIRTIO_IOMMU_S_OK if a request succeeds"
        } catch {
            stats.refusedRequests &+= 1
            if case .limit(let kind) = error { stats.limitRefusals[kind, default: 0] &+= 1 }
            if case .outsideInputRange = error { stats.limitRefusals[.inputRange, default: 0] &+= 1 }
            warnings.warn(error.reason, metadata: ["rule": "\(error.rule.id)"])
            status = error.status
            body = []
        }
        // The tail ends the writable part; bytes before it that carry nothing are zero (IOMMU-6.6: "fill the
        // remaining bytes of properties with zeroes"). IOMMU-6.1: tail reserved bytes are zero.
        precondition(body.count <= bodyLength)
        var response = body
        response.reserveCapacity(writableLength)
        response.append(contentsOf: repeatElement(0, count: bodyLength - body.count))
        response.append(contentsOf: ReqTail.bytes(status))
        return (response, status)
    }

    private mutating func execute(_ type: IOMMURequestType, _ reader: inout WireReader,
                                  bodyLength: Int) throws(IOMMURequestError) -> [UInt8] {
        // IOMMU-6.4 / 6.5: MAP and UNMAP are "only available when VIRTIO_IOMMU_F_MAP_UNMAP has been negotiated".
        if type == .map || type == .unmap, !negotiated(IOMMUFeatures.mapUnmap) { throw .notNegotiated(type) }
        // IOMMU-6.1: a request shorter than its struct is refused whole (INVALID parameters) before any effect.
        guard reader.remaining >= type.payloadSize else {
            throw .truncated(type, needed: ReqHead.size + type.payloadSize, available: ReqHead.size + reader.remaining)
        }
        let decoded: DecodedRequest
        do throws(WireError) {
            decoded = switch type {
            case .attach: .attach(try AttachRequest(from: &reader))
            case .detach: .detach(try DetachRequest(from: &reader))
            case .map: .map(try MapRequest(from: &reader))
            case .unmap: .unmap(try UnmapRequest(from: &reader))
            case .probe: .probe(try ProbeRequest(from: &reader))
            }
        } catch {
            preconditionFailure("length checked above: \(error)")
        }
        switch decoded {
        case .attach(let r): try attach(r)
        case .detach(let r): try detach(r)
        case .map(let r): try map(r)
        case .unmap(let r): try unmap(r)
        case .probe(let r): return try probe(r, propertiesLength: bodyLength)
        }
        return []
    }

    private mutating func unanswered(_ why: String) -> (response: [UInt8], status: IOMMUStatus?) {
        stats.unansweredRequests &+= 1
        warnings.warn(why, metadata: ["rule": "IOMMU-6.1"])
        return ([], nil)
    }

    /// Records a refused access for the eventq (IOMMU-6.8) and counts it.
    mutating func recordFault(_ fault: IOMMUFault, why: String) {
        stats.refusedTranslations &+= 1
        if faults.record(fault) { stats.faultsRecorded &+= 1 }
        warnings.warn("DMA refused: endpoint \(fault.endpoint) at 0x\(String(fault.address, radix: 16)): \(why)",
                      metadata: ["rule": "IOMMU-6.8"])
    }
}
