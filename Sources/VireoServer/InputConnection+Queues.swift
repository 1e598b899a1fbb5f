// InputConnection+Queues: the eventq (each buffer the driver posts gets one `virtio_input_event`; buffers stay in
// the ring until an event is there for them) and the statusq (events from the driver, read and returned).
import GuestMemory
import VireoSystem
import Virtio
import VirtioInput

extension InputConnection {
    func serveInputQueue(_ i: Int) {
        if i == InputConstants.eventQueue {
            if let kick = queues[i].kick { _ = EventFD.drain(kick) }
            deliverEvents()
            return
        }
        drainChains(i, queueName: "statusq") { chain, dma in
            readStatus(chain, dma: dma)
            return .used(0)
        }
    }

    private func readStatus(_ chain: DescriptorChain, dma: DMASpace) {
        do {
            let (bytes, truncated) = try chain.readRequest(dma: dma, limit: Self.maxStatusSize)
            if truncated {
                unreadableStatusBuffers &+= 1
                logger.warning("statusq: buffer larger than \(Self.maxStatusSize) bytes ignored")
                return
            }
            port.device.handleStatus(bytes)
        } catch {
            unreadableStatusBuffers &+= 1
            logger.warning("statusq: buffer unreadable: \(error)")
        }
    }

    /// Fills eventq buffers with pending events, one per buffer, oldest first; notifies the driver once. Buffers
    /// are taken from the ring only while events wait, so none is held across a reset or a new memory table.
    func deliverEvents() {
        let e = InputConstants.eventQueue
        guard queues[e].enabled, queues[e].started, !queues[e].broken, var queue = queues[e].queue else { return }
        let device = port.device
        let dma = self.dma
        var published = false
        do {
            while device.hasPendingEvents {
                guard let popped = try queue.popChain(dma: dma) else {
                    // No buffer: ask for a kick, and look again (the driver may have posted meanwhile).
                    try queue.enableKicks(dma: dma)
                    if queue.hasPending(dma: dma) { continue }
                    break
                }
                switch popped {
                case .success(let chain):
                    guard chain.writableLength >= UInt64(VirtioInputEvent.size), chain.readable.isEmpty else {
                        unusableEventBuffers &+= 1
                        try queue.pushUsed(head: chain.head, length: 0, dma: dma)
                        published = true
                        continue
                    }
                    guard let event = device.takeEvents(max: 1).first else {
                        try queue.pushUsed(head: chain.head, length: 0, dma: dma)
                        published = true
                        break
                    }
                    var written = 0
                    do { written = try chain.writeResponse(event.encoded, dma: dma) } catch {
                        logger.warning("eventq: event not delivered: \(error)")
                    }
                    try queue.pushUsed(head: chain.head, length: UInt32(written), dma: dma)
                    published = true
                case .failure(let bad):
                    logger.warning("eventq: bad descriptor chain \(bad.head): \(bad.error)")
                    counters.count { $0.badChains &+= 1 }
                    try queue.pushUsed(head: bad.head, length: 0, dma: dma)
                    published = true
                }
            }
        } catch {
            logger.warning("queue \(e) stopped: \(error); it restarts when the frontend reconfigures it")
            queues[e].broken = true
        }
        if published, queue.needsNotification(dma: dma), let call = queues[e].call { EventFD.signal(call) }
        queues[e].queue = queue
    }
}
