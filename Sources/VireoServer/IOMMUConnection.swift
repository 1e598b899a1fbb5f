// IOMMUConnection: one frontend connection of the virtio-iommu device (IOMMU-1: device id 23; IOMMU-2: requestq 0,
// eventq 1). requestq chains go to `IOMMUDevice.handle`; eventq buffers the driver posts are held until a fault
// (from any thread's DMA through the client's translators) fills one, each fault in its own buffer (IOMMU-6.8).
import GuestMemory
import Logging
import VhostUser
import VireoSystem
import Virtio
import VirtioIOMMU

public final class IOMMUConnection: VhostUserConnection, @unchecked Sendable {
    // Sendable: all state is confined to the thread that calls `run()`; `client.iommu` locks its own state.
    let client: ClientContext
    /// Eventq buffers posted by the driver and not used yet, oldest first.
    var heldEventBuffers: [DescriptorChain] = []
    /// Faults taken from the device (with a request's result) that wait for an eventq buffer; bounded.
    var undeliveredFaults: [IOMMUFault] = []
    /// Faults that could not be delivered: `undeliveredFaults` was full, or the buffer was unwritable.
    var faultsDropped: UInt64 = 0
    /// Eventq buffers returned unused: smaller than a fault report, or with a device-readable part.
    var unusableEventBuffers: UInt64 = 0

    static let faultsPendingTag = deviceTagBase
    /// Bounds what is read of one request: the largest request (MAP) is 40 bytes; 4 KiB leaves room for padding.
    static let maxRequestSize = 4096

    public init(socket: OwnedFD, config: ServerConfig, logger: Logger, client: ClientContext,
                counters: ClientCounters = ClientCounters()) throws {
        self.client = client
        try super.init(socket: socket, config: config, logger: logger, queueCount: IOMMUConstants.queueCount,
                       counters: counters)
        try epoll.add(client.faultsPending, tag: Self.faultsPendingTag)
    }

    override var deviceName: String { "virtio-iommu" }
    public static var offeredFeatures: UInt64 {
        FeatureBit.version1 | FeatureBit.indirectDesc | FeatureBit.eventIdx | FeatureBit.protocolFeatures
            | IOMMUDevice.offeredFeatures
    }
    override var offeredFeatureBits: UInt64 { Self.offeredFeatures }
    override var offeredProtocolFeatureBits: UInt64 {
        [VhostUserProtocolFeature.replyAck, .config, .configureMemSlots, .resetDevice, .status].reduce(0) { $0 | $1.mask }
    }
    override var deviceConfigSpace: [UInt8] { client.iommu.configSpace }
    override func writeDeviceConfig(offset: UInt32, bytes: [UInt8]) { client.iommu.writeConfig(offset: offset, bytes: bytes) }
    override func didNegotiateFeatures(_ features: UInt64) { client.iommu.setNegotiatedFeatures(features) }
    override func serveQueue(_ i: Int) { serveIOMMUQueue(i) }
    override func handleDeviceEvent(tag: UInt64) {
        guard tag == Self.faultsPendingTag else { return }
        _ = EventFD.drain(client.faultsPending)
        deliverFaults()
    }
    /// MAP of normal memory outside the guest's RAM answers RANGE: the RAM is this connection's memory table.
    override func memoryTableChanged() {
        client.iommu.setGuestMemoryLayout(regions.map {
            GuestRange(address: $0.layout.guestPhysAddr, length: $0.layout.memorySize)
        })
    }
    override func queueStopped(_ i: Int) {
        if i == IOMMUConstants.eventQueue { heldEventBuffers = [] }
    }
    override func resetDeviceState() {
        client.iommu.reset()
        heldEventBuffers = []
        undeliveredFaults = []
    }
    /// The guest's IOMMU driver is gone with its frontend: no endpoint stays attached (the GPU's DMA is refused
    /// again until a new driver attaches it).
    override func releaseDeviceState() {
        client.iommu.systemReset()
        client.iommu.setGuestMemoryLayout(nil)
        heldEventBuffers = []
        undeliveredFaults = []
        epoll.remove(client.faultsPending)
    }
}
