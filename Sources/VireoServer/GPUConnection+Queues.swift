// GPUConnection+Queues: the frame path. A kick pops every available chain, runs the GPU command, writes the
// response, publishes it used, forwards display events to the side channel, and signals the driver once.
import Display
import GuestMemory
import VhostUser
import VireoSystem
import Virtio
import VirtioGPU
import Wire

extension GPUConnection {
    static let getDisplayInfoType: UInt32 = 0x0100
    static let getEDIDType: UInt32 = 0x010a

    func handleKick(_ i: Int) {
        if let kick = queues[i].kick { _ = EventFD.drain(kick) }
        guard queues[i].enabled, queues[i].started, !queues[i].broken, var queue = queues[i].queue else { return }
        let dma = self.dma
        processingKick = true
        defer { processingKick = false }
        var published = false
        do {
            while true {
                while let popped = try queue.popChain(dma: dma) {
                    switch popped {
                    case .success(let chain):
                        let written = process(chain, queueIndex: i, dma: dma)
                        try queue.pushUsed(head: chain.head, length: UInt32(written), dma: dma)
                    case .failure(let bad):
                        // One bad chain: give it back unused so the driver is not left waiting, and go on.
                        logger.warning("queue \(i): bad descriptor chain \(bad.head): \(bad.error)")
                        try queue.pushUsed(head: bad.head, length: 0, dma: dma)
                    }
                    published = true
                }
                try queue.publishAvailEvent(dma: dma)
                if !queue.hasPending(dma: dma) { break }
            }
        } catch where !error.isFatal {
            // Served again when the translation arrives (handleIOTLB) or at the next kick.
            logger.debug("queue \(i): \(error)")
        } catch {
            logger.warning("queue \(i) stopped: \(error); it restarts when the frontend reconfigures it")
            queues[i].broken = true
        }
        if published, queue.needsNotification(dma: dma), let call = queues[i].call { EventFD.signal(call) }
        queues[i].queue = queue
    }

    /// Runs one command; returns the number of response bytes written.
    func process(_ chain: DescriptorChain, queueIndex: Int, dma: DMASpace) -> Int {
        let request: [UInt8]
        do {
            request = try chain.readRequest(dma: dma, limit: GPUDevice.maxRequestSize).bytes
        } catch {
            logger.warning("request unreadable: \(error)")
            return 0
        }
        if sideChannel != nil, queueIndex == 0 { askFrontendBeforeCommand(request) }
        let result = device.handle(request: request, queue: queueIndex == 0 ? .control : .cursor, dma: dma)
        forward(result.events)
        guard !result.response.isEmpty, chain.writableLength > 0 else { return 0 }
        do {
            let n = try chain.writeResponse(result.response, dma: dma)
            if n < result.response.count {
                logger.warning("response of \(result.response.count) bytes truncated to \(n): buffer too small")
            }
            return n
        } catch {
            logger.warning("response unwritable: \(error)")
            return 0
        }
    }
}

