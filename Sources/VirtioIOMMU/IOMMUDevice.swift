// IOMMUDevice: the queue-free virtio-iommu device. It takes a request's bytes and answers the bytes of its
// device-writable part, and it translates its endpoints' DMA; one lock keeps both consistent across threads.
import GuestMemory
import Logging
import Synchronization

/// One request's outcome.
public struct IOMMUResult: Equatable, Sendable {
    /// The bytes for the start of the device-writable part; the used length is `response.count`. Empty: the
    /// buffers go back unwritten (used length 0), as the spec wants for requests the device cannot parse.
    public var response: [UInt8]
    /// The status written in the tail; nil when nothing was written.
    public var status: IOMMUStatus?
    /// Fault reports pending (from any endpoint's refused DMA), oldest first, each for one eventq buffer.
    public var faults: [IOMMUFault]
}

public final class IOMMUDevice: Sendable {
    /// IOMMU-1.
    public static let deviceID = IOMMUConstants.deviceID
    /// IOMMU-3.
    public static let offeredFeatures = IOMMUFeatures.offered

    let state: Mutex<IOMMUState>

    public init(configuration: IOMMUConfiguration, logger: Logger = Logger(label: "vireo.virtio-iommu")) {
        state = Mutex(IOMMUState(config: configuration, logger: logger))
    }

    /// Keeps only the bits offered.
    public func setNegotiatedFeatures(_ features: UInt64) {
        state.withLock { $0.negotiated = features & Self.offeredFeatures }
    }

    public var negotiatedFeatures: UInt64 { state.withLock { $0.negotiated } }

    /// Device reset: no endpoint attached, no domain, no feature; pending faults are discarded (and counted as
    /// dropped). `bypass` keeps its value ([VIRTIO] 5.13.4: "SHOULD NOT change on device reset").
    public func reset() { state.withLock { $0.reset() } }

    /// System reset: a device reset, and `bypass` back to its initial 0.
    public func systemReset() {
        state.withLock { s in
            s.reset()
            s.bypassField = 0
        }
    }

    /// Runs one request. `request` is the device-readable part, `writableLength` the size of the device-writable
    /// part. Never traps on guest input: every refusal is a status, or no answer where the spec says so.
    public func handle(request: [UInt8], writableLength: Int) -> IOMMUResult {
        state.withLock { s in
            let (response, status) = s.handle(request, writableLength: writableLength)
            return IOMMUResult(response: response, status: status, faults: s.faults.take(max: .max))
        }
    }

    /// Fault reports recorded since the last call (e.g. by DMA on another thread), up to `max`, oldest first.
    /// The caller sends each in its own eventq buffer of at least `IOMMUFault.size` bytes.
    public func takeFaults(max: Int = .max) -> [IOMMUFault] { state.withLock { $0.faults.take(max: max) } }

    public var pendingFaultCount: Int { state.withLock { $0.faults.count } }

    public var statistics: IOMMUStatistics {
        state.withLock { s in
            var stats = s.stats
            stats.faultsDropped = s.faults.dropped
            return stats
        }
    }

    /// Bytes and mappings live across all domains, and the domain count (what `IOMMULimits` bounds).
    public var usage: (mappedBytes: UInt64, mappings: Int, domains: Int) {
        state.withLock { ($0.mappedBytes, $0.mappingCount, $0.domains.count) }
    }

    /// The guest's RAM (from the memory table): MAP of normal memory outside it answers RANGE. nil: unchecked.
    public func setGuestMemoryLayout(_ ranges: [GuestRange]?) { state.withLock { $0.guestMemory = ranges } }

    /// The DMA translator of one endpoint, usable from any thread.
    public func translator(for endpoint: UInt32) -> IOMMUEndpointTranslator {
        IOMMUEndpointTranslator(device: self, endpoint: endpoint)
    }
}
