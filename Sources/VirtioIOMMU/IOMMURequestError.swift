// IOMMURequestError: why a request was refused, with the rule it enforces and its wire status, both decided here
// and nowhere else.

/// A requirement id from requirements.md and the spec clause it restates.
public struct SpecRule: Hashable, Sendable, CustomStringConvertible {
    public let id: String
    public let clause: String
    public var description: String { "\(id) (\(clause))" }
}

/// What the client's limits bound (`IOMMULimits`); each refusal is counted per kind.
public enum IOMMULimitKind: String, Sendable, Hashable, CaseIterable {
    case mappedBytes, mappings, domains, inputRange
}

enum IOMMURequestError: Error, Equatable {
    case truncated(IOMMURequestType, needed: Int, available: Int)
    case notNegotiated(IOMMURequestType)                     // MAP/UNMAP without VIRTIO_IOMMU_F_MAP_UNMAP
    case reservedNotZero(IOMMURequestType)
    case unknownFlags(IOMMURequestType, UInt32)
    case unknownEndpoint(UInt32)
    case domainOutOfRange(UInt32)
    case unknownDomain(IOMMURequestType, UInt32)
    case bypassMismatch(domain: UInt32)
    case incompatibleEndpoint(endpoint: UInt32, domain: UInt32, IOVARange)
    case notAttached(endpoint: UInt32, domain: UInt32)
    case invertedRange(IOMMURequestType, start: UInt64, end: UInt64)
    case unaligned(IOVARange, phys: UInt64)
    case physicalWraps(phys: UInt64, IOVARange)
    case outsideGuestMemory(phys: UInt64, IOVARange)
    case outsideInputRange(IOMMURequestType, IOVARange)
    case overlapsMapping(IOVARange)
    case overlapsReserved(IOVARange)
    case bypassDomain(IOMMURequestType, domain: UInt32)
    case splitsMapping(IOVARange)
    case probeBufferTooSmall(needed: Int, available: Int)
    case limit(IOMMULimitKind)

    var rule: SpecRule {
        switch self {
        case .truncated, .notNegotiated: .init(id: "IOMMU-6.1", clause: "[VIRTIO] 5.13.6 device operations")
        case .reservedNotZero(.unmap), .splitsMapping, .invertedRange(.unmap, _, _), .bypassDomain(.unmap, _),
             .unknownDomain(.unmap, _):
            .init(id: "IOMMU-6.5", clause: "[VIRTIO] 5.13.6 UNMAP request")
        case .reservedNotZero, .unknownFlags(.attach, _), .bypassMismatch, .incompatibleEndpoint,
             .unknownDomain(.attach, _):
            .init(id: "IOMMU-6.2", clause: "[VIRTIO] 5.13.6 ATTACH request")
        case .notAttached, .unknownDomain(.detach, _):
            .init(id: "IOMMU-6.3", clause: "[VIRTIO] 5.13.6 DETACH request")
        case .unknownEndpoint, .domainOutOfRange:
            .init(id: "IOMMU-6.1", clause: "[VIRTIO] 5.13.6 device operations: endpoint and domain ids")
        case .probeBufferTooSmall: .init(id: "IOMMU-6.6", clause: "[VIRTIO] 5.13.6 PROBE request")
        case .overlapsReserved: .init(id: "IOMMU-6.7", clause: "[VIRTIO] 5.13.6 RESV_MEM property")
        case .limit: .init(id: "IOMMU-LIMITS", clause: "requirements.md: DMA limits per client")
        case .unknownFlags, .unknownDomain, .invertedRange, .unaligned, .physicalWraps, .outsideGuestMemory,
             .outsideInputRange, .overlapsMapping, .bypassDomain:
            .init(id: "IOMMU-6.4", clause: "[VIRTIO] 5.13.6 MAP request")
        }
    }

    /// The one place a refusal becomes a `virtio_iommu_req_tail.status`.
    var status: IOMMUStatus {
        switch self {
        case .truncated: .inval                 // a struct too short for its type: invalid parameters
        case .notNegotiated: .unsupp
        case .reservedNotZero: .inval           // ATTACH: MUST; UNMAP: MAY (done: strict reading)
        case .unknownFlags: .inval              // ATTACH / MAP: MUST
        case .unknownEndpoint: .noEnt           // ATTACH / DETACH / PROBE
        case .domainOutOfRange: .range          // outside domain_range: out-of-range parameter
        case .unknownDomain(.detach, _): .inval // DETACH: MAY INVAL (done)
        case .unknownDomain: .noEnt             // MAP / UNMAP: SHOULD NOENT
        case .bypassMismatch: .inval            // ATTACH: SHOULD INVAL
        case .incompatibleEndpoint: .unsupp     // ATTACH: SHOULD UNSUPP
        case .notAttached: .inval               // DETACH: MAY INVAL (done)
        case .invertedRange: .inval             // virt_end MUST be > virt_start: a malformed request
        case .unaligned: .range                 // MAP: SHOULD RANGE
        case .physicalWraps: .range
        case .outsideGuestMemory: .range
        case .outsideInputRange: .range         // device operations: "Any mapping request ... outside of this range fails"
        case .overlapsMapping: .inval           // MAP: SHOULD INVAL
        case .overlapsReserved: .range          // RESV_MEM: SHOULD reject (status unnamed; RANGE: unusable address)
        case .bypassDomain: .inval              // MAP / UNMAP: SHOULD INVAL
        case .splitsMapping: .range             // UNMAP: SHOULD RANGE, and remove nothing
        case .probeBufferTooSmall: .inval       // PROBE: SHOULD INVAL
        case .limit: .noMem                     // insufficient resources
        }
    }

    /// For the (rate-limited) log line.
    var reason: String {
        switch self {
        case .truncated(let t, let n, let a): "\(t) needs \(n) device-readable bytes, got \(a)"
        case .notNegotiated(let t): "\(t) without VIRTIO_IOMMU_F_MAP_UNMAP negotiated"
        case .reservedNotZero(let t): "\(t) reserved field not zero"
        case .unknownFlags(let t, let f): "\(t) unknown flags 0x\(String(f, radix: 16))"
        case .unknownEndpoint(let e): "endpoint \(e) does not exist"
        case .domainOutOfRange(let d): "domain \(d) outside domain_range"
        case .unknownDomain(let t, let d): "\(t): domain \(d) does not exist"
        case .bypassMismatch(let d): "ATTACH bypass flag inconsistent with domain \(d)"
        case .incompatibleEndpoint(let e, let d, let r): "endpoint \(e) reserves \(r), mapped in domain \(d)"
        case .notAttached(let e, let d): "endpoint \(e) is not attached to domain \(d)"
        case .invertedRange(let t, let s, let e): "\(t) virt_start 0x\(String(s, radix: 16)) > virt_end 0x\(String(e, radix: 16))"
        case .unaligned(let r, let p): "MAP \(r) phys 0x\(String(p, radix: 16)) not aligned on the page granularity"
        case .physicalWraps(let p, let r): "MAP \(r) phys 0x\(String(p, radix: 16)) wraps"
        case .outsideGuestMemory(let p, let r): "MAP \(r) phys 0x\(String(p, radix: 16)) outside guest memory"
        case .outsideInputRange(let t, let r): "\(t) \(r) outside input_range"
        case .overlapsMapping(let r): "MAP \(r) overlaps an existing mapping"
        case .overlapsReserved(let r): "MAP \(r) overlaps a reserved region"
        case .bypassDomain(let t, let d): "\(t) on bypass domain \(d)"
        case .splitsMapping(let r): "UNMAP would split mapping \(r)"
        case .probeBufferTooSmall(let n, let a): "PROBE properties need \(n) bytes, buffer has \(a)"
        case .limit(let k): "client limit reached: \(k.rawValue)"
        }
    }
}
