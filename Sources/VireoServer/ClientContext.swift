// ClientContext: what one client's connections share. Today: the client's virtio-iommu, served on its own
// vhost-user socket by an IOMMUConnection, and the GPU's endpoint on it. The two connections run on different
// threads; IOMMUDevice locks its own state, and they wake each other only through the two eventfds here.
import Logging
import VireoSystem
import VirtioIOMMU

public final class ClientContext: Sendable {
    /// The client's virtio-iommu (device id 23). Its state outlives either connection only while that connection
    /// lives: the IOMMU connection resets it when it ends.
    public let iommu: IOMMUDevice
    /// The GPU's endpoint id on `iommu` (what the guest's driver ATTACHes).
    public let endpoint: UInt32
    /// The client's IOMMU limits (reported by `GET /v1/clients`).
    public let limits: IOMMULimits
    /// Signalled by the IOMMU connection after a request succeeded (ATTACH, MAP, ...): the GPU connection retries
    /// queues that waited for a translation. Watched by the GPU connection's epoll.
    let mappingsChanged: OwnedFD
    /// Signalled by the GPU connection when its DMA recorded faults: the IOMMU connection delivers them on its
    /// eventq. Watched by the IOMMU connection's epoll.
    let faultsPending: OwnedFD
    /// Faults a connection holds for the eventq beyond the device's own queue (the same bound).
    let maxPendingFaults: Int

    public init(endpoint: UInt32, limits: IOMMULimits = IOMMULimits(), logger: Logger) throws {
        let configuration = IOMMUConfiguration(endpoints: [IOMMUEndpointConfig(id: endpoint)], limits: limits)
        iommu = IOMMUDevice(configuration: configuration, logger: logger)
        self.endpoint = endpoint
        self.limits = limits
        maxPendingFaults = limits.maxPendingFaults
        mappingsChanged = try EventFD.make()
        faultsPending = try EventFD.make()
    }

    func announceMappings() { _ = EventFD.signal(mappingsChanged) }
    func announceFaults() { _ = EventFD.signal(faultsPending) }
}
