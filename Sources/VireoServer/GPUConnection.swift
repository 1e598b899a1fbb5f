// GPUConnection: one frontend connection of the virtio-gpu device. The vhost-user side is VhostUserConnection's;
// this owns the GPU device, drives it from the queues, and forwards display events to the side channel. With the
// backend's own virtio-iommu (ClientContext), every device address is an IOVA of the GPU's endpoint.
import Display
import GuestMemory
import Logging
import VhostUser
import VireoSystem
import Virtio
import VirtioGPU

public final class GPUConnection: VhostUserConnection, @unchecked Sendable {
    // Sendable: all state is confined to the thread that calls `run()`; other threads only read `displays`.
    public let displays: DisplaySet
    let device: GPUDevice
    /// The client's virtio-iommu and this GPU's endpoint there; nil when the backend serves no IOMMU.
    let client: ClientContext?
    var sideChannel: GPUSideChannel?
    var sideChannelFeatures: UInt64 = 0
    var sideChannelNegotiated = false
    /// The frontend's display modes were read once (later changes raise VIRTIO_GPU_EVENT_DISPLAY).
    var sideChannelModesKnown = false

    /// DMA checks asked from other threads (`GPUServer.checkDMA`), answered on this connection's thread.
    let dmaChecks: ConnectionMailbox<DMACheckRequest, Result<DMACheckResult, DMACheckError>>
    /// Display sizes viewers ask for (`GPUServer.resizeDisplay`), answered on this connection's thread.
    let displayResizes: ConnectionMailbox<DisplayResizeRequest, Result<Void, DisplayResizeError>>

    static let queueCountGPU = 2
    static let mappingsChangedTag = deviceTagBase
    static let dmaCheckTag = deviceTagBase + 1
    static let displayResizeTag = deviceTagBase + 2

    public static var offeredFeatures: UInt64 {
        FeatureBit.version1 | FeatureBit.indirectDesc | FeatureBit.eventIdx | FeatureBit.protocolFeatures
            | FeatureBit.accessPlatform | GPUDevice.offeredFeatures
    }
    public static let offeredProtocolFeatures: UInt64 = [
        VhostUserProtocolFeature.replyAck, .config, .configureMemSlots, .resetDevice, .status, .backendReq,
    ].reduce(0) { $0 | $1.mask }

    public init(socket: OwnedFD, config: ServerConfig, logger: Logger, client: ClientContext? = nil,
                counters: ClientCounters = ClientCounters()) throws {
        displays = DisplaySet(modes: config.displays)
        device = GPUDevice(displays: displays, limits: config.limits, logger: logger)
        self.client = client
        dmaChecks = try ConnectionMailbox()
        displayResizes = try ConnectionMailbox()
        try super.init(socket: socket, config: config, logger: logger, queueCount: Self.queueCountGPU,
                       counters: counters)
        if let client { try epoll.add(client.mappingsChanged, tag: Self.mappingsChangedTag) }
        try epoll.add(dmaChecks.wakeup, tag: Self.dmaCheckTag)
        try epoll.add(displayResizes.wakeup, tag: Self.displayResizeTag)
    }

    override var deviceName: String { "GPU" }
    override var offeredFeatureBits: UInt64 { Self.offeredFeatures }
    override var offeredProtocolFeatureBits: UInt64 { Self.offeredProtocolFeatures }
    override var deviceConfigSpace: [UInt8] { device.configSpace }
    override func writeDeviceConfig(offset: UInt32, bytes: [UInt8]) { device.writeConfig(offset: offset, bytes: bytes) }
    override func didNegotiateFeatures(_ features: UInt64) { device.setNegotiatedFeatures(features) }
    override func serveQueue(_ i: Int) {
        handleKick(i)
        // Faults this GPU's DMA caused go to the IOMMU connection's eventq.
        if let client, client.iommu.pendingFaultCount > 0 { client.announceFaults() }
    }
    override var deviceFDRequests: Set<VhostUserRequest> { [.gpuSetSocket] }
    override func handleDeviceRequest(_ request: VhostUserRequest, _ m: VhostUserMessage) throws -> [UInt8]? {
        guard request == .gpuSetSocket else { return try super.handleDeviceRequest(request, m) }
        guard m.payload.isEmpty else { throw ProtocolViolation("\(request): payload is \(m.payload.count) bytes, expected 0") }
        guard m.fds.count == 1 else { throw ProtocolViolation("\(request): \(m.fds.count) fds, expected 1") }
        attachSideChannel(m.fds[0])
        return nil
    }
    override func handleDeviceEvent(tag: UInt64) {
        if tag == Self.dmaCheckTag { return dmaChecks.serve(checkDMA) }
        if tag == Self.displayResizeTag { return displayResizes.serve(resizeDisplay) }
        guard tag == Self.mappingsChangedTag, let client else { return }
        _ = EventFD.drain(client.mappingsChanged)
        // The guest's IOMMU driver attached or mapped: queues that waited for a translation may go on.
        for i in queues.indices where queues[i].started { pendingKicks.insert(i) }
    }
    override func resetDeviceState() { device.reset() }
    override func releaseDeviceState() {
        dmaChecks.cancelAll(with: .failure(.noGuest))
        displayResizes.cancelAll(with: .failure(.noGuest))
        epoll.remove(dmaChecks.wakeup)
        epoll.remove(displayResizes.wakeup)
        device.reset()
        sideChannel = nil
        if let client { epoll.remove(client.mappingsChanged) }
    }
    /// IOMMU-5.1: with the backend's virtio-iommu, the GPU's DMA goes through its endpoint, even before the guest
    /// attaches it (then nothing is reachable). This wins over ACCESS_PLATFORM's IOTLB: the guest programs this one.
    override var deviceTranslator: (any DMATranslator)? { client.map { $0.iommu.translator(for: $0.endpoint) } }
}

extension GPUConnection {
    /// Whether the device may access the request's addresses now, through the DMA path its commands use. Misses are
    /// asked of the frontend and waited for as during a command; nothing is read or written.
    func checkDMA(_ request: DMACheckRequest) -> Result<DMACheckResult, DMACheckError> {
        var ranges: [GuestRange]
        switch request.target {
        case .address(let address, let length):
            guard (1...(1 << 32)).contains(length) else { return .failure(.tooLong) }
            ranges = [GuestRange(address: address, length: length)]
        case .resource(let id):
            guard let entries = device.backingAddresses(resource: id) else {
                return .failure(.noResource("resource \(id) does not exist or has no backing"))
            }
            ranges = entries
        case .scanout(let index):
            guard let id = device.resourceID(onScanout: index), let entries = device.backingAddresses(resource: id) else {
                return .failure(.noResource("scanout \(index) shows no resource with backing"))
            }
            ranges = entries
        }
        let dma = self.dma
        processingKick = true   // an IOTLB miss may wait for the frontend's answer, as during a command
        defer {
            processingKick = false
            // A refusal by Vireo's virtio-iommu is a fault for its eventq, as for a command's DMA.
            if let client, client.iommu.pendingFaultCount > 0 { client.announceFaults() }
        }
        for r in ranges {
            do {
                _ = try dma.resolve(r.address, length: r.length, access: request.access)
            } catch {
                logger.notice("DMA check: \(request.access) of \(r.length) bytes at 0x\(String(r.address, radix: 16)) refused: \(error)")
                return .success(DMACheckResult(allowed: false, checked: ranges, refusal: "\(error)",
                                               refusedAddress: error.address ?? r.address))
            }
        }
        return .success(DMACheckResult(allowed: true, checked: ranges, refusal: nil, refusedAddress: nil))
    }
}
