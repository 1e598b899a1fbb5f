// IOMMUEndpointTranslator: the `DMATranslator` of one endpoint: IOVAs through its domain to guest-physical
// fragments, with READ checked for device reads and WRITE for device writes. Every refusal throws and is reported.
import GuestMemory

public struct IOMMUEndpointTranslator: DMATranslator {
    public let device: IOMMUDevice
    public let endpoint: UInt32

    public init(device: IOMMUDevice, endpoint: UInt32) {
        self.device = device
        self.endpoint = endpoint
    }

    /// Throws `.translationFault` naming the first refused byte and the bytes from there; the refusal is queued as
    /// a `virtio_iommu_fault` for the eventq (or counted as dropped when the queue is full).
    public func translate(_ iova: UInt64, length: UInt64, access: DMAAccess) throws(GuestMemoryError) -> [GuestRange] {
        let result = device.state.withLock { s in
            Result { () throws(IOMMUState.TranslateFailure) in
                try s.translate(endpoint: endpoint, iova: iova, length: length, access: access == .read ? .read : .write)
            }
        }
        switch result {
        case .success(let ranges): return ranges
        case .failure(.fault(let address, let remaining)):
            throw .translationFault(iova: address, length: remaining, access: access)
        }
    }
}
