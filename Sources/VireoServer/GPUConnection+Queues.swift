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
        let polling = config.pollMicroseconds > 0
        do {
            while true {
                let worked = try drain(&queue, i, dma: dma)
                // Adaptive busy-polling (as vhost-net's busy_poll): after work, watch the avail index for up to
                // `pollMicroseconds` with kicks off, so a driver that publishes again soon costs no kick or wake-up.
                if polling && worked {
                    try queue.disableKicks(dma: dma)
                    if pollForMore(queue, dma: dma) { continue }
                }
                // Going to sleep: kicks on, then a last look (the driver may have published without kicking).
                try queue.enableKicks(dma: dma)
                if !queue.hasPending(dma: dma) { break }
            }
        } catch where !error.isFatal || (deviceTranslator != nil && error.isTranslationFault) {
            // Served again when the translation arrives (handleIOTLB, or the IOMMU's ATTACH/MAP) or at the next kick.
            logger.debug("queue \(i): \(error)")
        } catch {
            logger.warning("queue \(i) stopped: \(error); it restarts when the frontend reconfigures it")
            queues[i].broken = true
        }
        queues[i].queue = queue
    }

    /// Runs every available chain and signals the driver if it wants it; true when anything was used.
    private func drain(_ queue: inout Virtqueue, _ i: Int, dma: DMASpace) throws(VirtqueueError) -> Bool {
        var published = false, usedAny = false
        defer {
            // Also after a ring error: what was used is announced.
            if published, queue.needsNotification(dma: dma), let call = queues[i].call { EventFD.signal(call) }
        }
        while let popped = try queue.popChain(dma: dma) {
            usedAny = true
            switch popped {
            case .success(let chain):
                let written = process(chain, queueIndex: i, dma: dma)
                try queue.pushUsed(head: chain.head, length: UInt32(written), dma: dma)
                published = true
                if device.hasPendingPresents {
                    // The display end has the UPDATE: answer the guest now, and make Vireo's own copy (PNG/HTTP)
                    // off the frame's latency path, before the next command can change the resource.
                    if queue.needsNotification(dma: dma), let call = queues[i].call { EventFD.signal(call) }
                    published = false
                    device.commitPresents()
                }
            case .failure(let bad):
                // One bad chain: give it back unused so the driver is not left waiting, and go on.
                logger.warning("queue \(i): bad descriptor chain \(bad.head): \(bad.error)")
                counters.count { $0.badChains &+= 1 }
                try queue.pushUsed(head: bad.head, length: 0, dma: dma)
                published = true
            }
        }
        return usedAny
    }

    /// Spins up to `config.pollMicroseconds` for the driver to publish more; true when it did.
    private func pollForMore(_ queue: Virtqueue, dma: DMASpace) -> Bool {
        let deadline = SpinDeadline(microseconds: config.pollMicroseconds)
        repeat {
            if queue.hasPending(dma: dma) { return true }
            SpinDeadline.relax()
        } while !deadline.hasPassed
        return false
    }

    /// Runs one command; returns the number of response bytes written.
    func process(_ chain: DescriptorChain, queueIndex: Int, dma: DMASpace) -> Int {
        let request: [UInt8]
        do {
            request = try chain.readRequest(dma: dma, limit: GPUDevice.maxRequestSize).bytes
        } catch {
            logger.warning("request unreadable: \(error)")
            counters.count { $0.badChains &+= 1 }
            return 0
        }
        if let trace = config.flushTrace, queueIndex == 0, let flush = ResourceFlush.decode(request: request) {
            trace.flush(resourceID: flush.resourceID, rect: flush.rect)   // timed where QEMU's trace point is
        }
        if sideChannel != nil, queueIndex == 0 { askFrontendBeforeCommand(request) }
        let result = device.handle(request: request, queue: queueIndex == 0 ? .control : .cursor, dma: dma,
                                   deferringPresents: true)
        forward(result.events)
        countCommand(result.response)
        guard !result.response.isEmpty, chain.writableLength > 0 else { return 0 }
        do {
            let n = try chain.writeResponse(result.response, dma: dma)
            if n < result.response.count {
                logger.warning("response of \(result.response.count) bytes truncated to \(n): buffer too small")
            }
            return n
        } catch {
            logger.warning("response unwritable: \(error)")
            counters.count { $0.badChains &+= 1 }
            return 0
        }
    }

    /// Counts the command, and its error response by name (the response starts with its le32 type).
    private func countCommand(_ response: [UInt8]) {
        let type = response.count >= 4 ? response.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) } : 0
        let refusal = GPUResponseType(rawValue: type)?.errorName
        counters.count { c in
            c.gpuCommands &+= 1
            if let refusal { c.gpuRefusals[refusal, default: 0] &+= 1 }
        }
    }
}


extension VirtqueueError {
    /// The ring itself is not reachable through the IOMMU (yet): behind the backend's virtio-iommu the queue waits
    /// for the guest's IOMMU driver to attach or map (IOMMU-5.1), instead of being declared corrupt.
    var isTranslationFault: Bool {
        if case .memory(.translationFault) = self { return true }
        return false
    }
}
