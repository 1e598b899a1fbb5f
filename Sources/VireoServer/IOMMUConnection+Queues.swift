// IOMMUConnection+Queues: the requestq (one request per chain, answered in its writable part) and the eventq
// (buffers held, then each filled with one `virtio_iommu_fault`).
import GuestMemory
import VireoSystem
import Virtio
import VirtioIOMMU

extension IOMMUConnection {
    func serveIOMMUQueue(_ i: Int) {
        var changed = false
        drainChains(i, queueName: i == IOMMUConstants.requestQueue ? "requestq" : "eventq") { chain, dma in
            if i == IOMMUConstants.requestQueue {
                let (written, ok) = runRequest(chain, dma: dma)
                changed = changed || ok
                return .used(UInt32(written))
            }
            // IOMMU-6.8: a fault report is never split, so a buffer too small for one cannot be used.
            guard chain.writableLength >= UInt64(IOMMUFault.size), chain.readable.isEmpty else {
                unusableEventBuffers &+= 1
                return .used(0)
            }
            heldEventBuffers.append(chain)
            return .held
        }
        if changed { client.announceMappings() }
        deliverFaults()
    }

    /// Runs one request; returns the bytes written and whether it succeeded (translations may have changed).
    private func runRequest(_ chain: DescriptorChain, dma: DMASpace) -> (Int, Bool) {
        let request: [UInt8]
        do { request = try chain.readRequest(dma: dma, limit: Self.maxRequestSize).bytes } catch {
            logger.warning("request unreadable: \(error)")
            return (0, false)
        }
        let result = client.iommu.handle(request: request, writableLength: Int(chain.writableLength))
        keep(result.faults)
        guard !result.response.isEmpty else { return (0, false) }
        do { return (try chain.writeResponse(result.response, dma: dma), result.status == .ok) } catch {
            logger.warning("response unwritable: \(error)")
            return (0, false)
        }
    }

    /// Faults the device handed over wait here for eventq buffers, up to the device's own fault bound.
    private func keep(_ faults: [IOMMUFault]) {
        for fault in faults {
            if undeliveredFaults.count < client.maxPendingFaults { undeliveredFaults.append(fault) } else { faultsDropped &+= 1 }
        }
    }

    /// Fills held eventq buffers with pending faults, oldest first, one per buffer; notifies the driver once.
    func deliverFaults() {
        let e = IOMMUConstants.eventQueue
        guard queues[e].started, !queues[e].broken, var queue = queues[e].queue else { return }
        let room = heldEventBuffers.count - undeliveredFaults.count
        if room > 0 { undeliveredFaults += client.iommu.takeFaults(max: room) }
        let dma = self.dma
        var published = false
        while !undeliveredFaults.isEmpty, !heldEventBuffers.isEmpty {
            let chain = heldEventBuffers.removeFirst(), fault = undeliveredFaults.removeFirst()
            do {
                let n = try chain.writeResponse(fault.bytes, dma: dma)
                try queue.pushUsed(head: chain.head, length: UInt32(n), dma: dma)
                published = true
            } catch {
                logger.warning("eventq: fault report not delivered: \(error)")
                faultsDropped &+= 1
            }
        }
        if published, queue.needsNotification(dma: dma), let call = queues[e].call { EventFD.signal(call) }
        queues[e].queue = queue
    }
}
