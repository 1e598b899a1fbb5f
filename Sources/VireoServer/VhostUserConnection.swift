// VhostUserConnection: one frontend connection of any vhost-user device: features, the memory table, vrings,
// config and status, the frontend's IOTLB, and the epoll loop over the socket and the kick eventfds. A device
// subclass (GPUConnection, IOMMUConnection) overrides the hooks below; it never parses vhost-user messages itself.
// Runs on its own thread: all state is confined to the thread that calls `run()`.
import Foundation
import GuestMemory
import Logging
import VhostUser
import VireoSystem
import Virtio
import Wire

public class VhostUserConnection: @unchecked Sendable {
    // Sendable: all state is confined to the thread that calls `run()`.
    let channel: VhostUserChannel
    let config: ServerConfig
    var logger: Logger
    /// The client's refusal counters (shared by its GPU and IOMMU connections; `GET /v1/clients`).
    let counters: ClientCounters

    var features: UInt64 = 0
    var protocolFeatures: UInt64 = 0
    var ownerSet = false
    var status: UInt8 = 0
    var regions: [MemoryRegion] = []
    var memory = GuestMemory.empty
    var queues: [QueueState]
    /// The frontend's IOMMU translations (used when VIRTIO_F_ACCESS_PLATFORM is negotiated and the backend has no
    /// virtio-iommu of its own in front of this device).
    let iotlb = IOTLB()
    var backendChannel: OwnedFD?
    var processingKick = false
    /// Messages that arrived while waiting for an IOTLB update; handled after the current kick.
    var deferredMessages: [VhostUserMessage] = []
    /// Queues to look at once the current message has been answered.
    var pendingKicks: Set<Int> = []
    let epoll: Epoll
    let queueCount: Int

    static let socketTag: UInt64 = 1000

    init(socket: OwnedFD, config: ServerConfig, logger: Logger, queueCount: Int, counters: ClientCounters) throws {
        channel = VhostUserChannel(socket: socket)
        self.config = config
        self.logger = logger
        self.counters = counters
        self.queueCount = queueCount
        queues = Array(repeating: QueueState(), count: queueCount)
        epoll = try Epoll()
        try epoll.add(socket, tag: Self.socketTag)
        installIOTLBHandlers()
    }

    // MARK: Device hooks (overridden by each device; Swift only lets class-body members be overridden).

    /// Used in messages ("GPU", "virtio-iommu").
    var deviceName: String { "device" }
    /// Virtio and device feature bits offered in GET_FEATURES.
    var offeredFeatureBits: UInt64 { FeatureBit.version1 | FeatureBit.protocolFeatures }
    var offeredProtocolFeatureBits: UInt64 { 0 }
    /// The device's virtio config space (GET_CONFIG/SET_CONFIG bounds).
    var deviceConfigSpace: [UInt8] { [] }
    func writeDeviceConfig(offset: UInt32, bytes: [UInt8]) {}
    func didNegotiateFeatures(_ features: UInt64) {}
    /// The driver kicked queue `i` (or it may have work after a reconfiguration).
    func serveQueue(_ i: Int) {}
    /// An fd the subclass added to `epoll` with a tag >= `deviceTagBase` became readable.
    func handleDeviceEvent(tag: UInt64) {}
    static let deviceTagBase: UInt64 = 2000
    /// Requests only this device type takes (e.g. GPU_SET_SOCKET); the default refuses.
    func handleDeviceRequest(_ request: VhostUserRequest, _ m: VhostUserMessage) throws -> [UInt8]? {
        throw ProtocolViolation("\(request) is not supported by a \(deviceName) backend")
    }
    /// Requests whose fds `handleDeviceRequest` checks itself.
    var deviceFDRequests: Set<VhostUserRequest> { [] }
    /// Device reset (RESET_DEVICE, status 0).
    func resetDeviceState() {}
    /// The connection ended: drop everything the device holds for this frontend.
    func releaseDeviceState() {}
    /// Ring `i` stopped (GET_VRING_BASE, reset, a new kick fd, teardown).
    func queueStopped(_ i: Int) {}
    /// A new memory table was adopted.
    func memoryTableChanged() {}
    /// A translator owned by the backend itself (its virtio-iommu); when set, device addresses are IOVAs
    /// translated by it, and the frontend's IOTLB is not used.
    var deviceTranslator: (any DMATranslator)? { nil }

    /// Device addresses go through the backend's own IOMMU when it has one, else through the frontend's IOTLB when
    /// ACCESS_PLATFORM is negotiated, else they are guest-physical.
    var dma: DMASpace { DMASpace(memory: memory, translator: deviceTranslator ?? (iommuPlatform ? iotlb : nil)) }

    /// Ring and buffer addresses are IOVAs (not frontend user addresses / guest-physical addresses).
    var addressesAreIOVAs: Bool { iommuPlatform || deviceTranslator != nil }

    /// Serves until the frontend disconnects or violates the protocol where no NACK is possible.
    public func run() {
        logger.info("frontend connected")
        defer { teardown() }
        while true {
            let events: [Epoll.Event]
            do { events = try epoll.wait(timeoutMS: -1) } catch {
                logger.error("epoll failed: \(error)")
                return
            }
            for event in events {
                if event.tag == Self.socketTag {
                    guard handleFrontendMessage() else { return }
                } else if event.tag >= Self.deviceTagBase {
                    handleDeviceEvent(tag: event.tag)
                } else if let index = Int(exactly: event.tag), index < queueCount {
                    serveQueue(index)
                }
                while !deferredMessages.isEmpty || !pendingKicks.isEmpty {
                    if !deferredMessages.isEmpty {
                        guard dispatch(deferredMessages.removeFirst()) else { return }
                    } else {
                        serveQueue(pendingKicks.removeFirst())
                    }
                }
            }
        }
    }

    /// Reads and handles one message; false ends the connection.
    func handleFrontendMessage() -> Bool {
        let message: VhostUserMessage
        do { message = try channel.receive() } catch VhostUserError.peerClosed {
            logger.info("frontend disconnected")
            return false
        } catch {
            logger.warning("closing connection: unreadable message: \(error)")
            return false
        }
        return dispatch(message)
    }

    /// Handles one message and sends its reply or ack; false ends the connection.
    @discardableResult
    func dispatch(_ message: VhostUserMessage) -> Bool {
        let name = message.request.map { "\($0)" } ?? "request \(message.header.request)"
        do {
            let reply = try handle(message)
            if let reply {
                try channel.reply(to: message.header.request, payload: reply)
            } else if message.header.needsReply && negotiated(.replyAck) {
                try channel.reply(to: message.header.request, payload: u64(0))
            }
            return true
        } catch let violation as ProtocolViolation {
            counters.count { $0.vhostUserRefusals &+= 1 }
            if message.header.needsReply && negotiated(.replyAck) && !violation.fatal {
                logger.warning("NACK \(name): \(violation.reason)")
                return (try? channel.reply(to: message.header.request, payload: u64(1))) != nil
            }
            logger.warning("closing connection: \(name): \(violation.reason)")
            return false
        } catch {
            counters.count { $0.vhostUserRefusals &+= 1 }
            logger.warning("closing connection: \(name): \(error)")
            return false
        }
    }

    /// Stops ring `i` (its kick fd leaves epoll); returns the next avail index it would have read.
    func stopQueue(_ i: Int) -> UInt16 {
        if let kick = queues[i].kick { epoll.remove(kick) }
        let last = queues[i].stop()
        queueStopped(i)
        return last
    }

    func negotiated(_ f: VhostUserProtocolFeature) -> Bool { protocolFeatures & f.mask != 0 }
    func u64(_ v: UInt64) -> [UInt8] { var w = WireWriter(); w.write(v); return w.bytes }

    func teardown() {
        for i in queues.indices { _ = stopQueue(i) }
        releaseDeviceState()
        regions = []
        memory = .empty
        iotlb.removeAll()
        iotlb.missHandler = nil
        iotlb.accessFailureHandler = nil
        logger.info("connection state released")
    }
}

/// A message the backend refuses. `fatal` ones cannot be NACKed (e.g. the stream is out of sync).
struct ProtocolViolation: Error, CustomStringConvertible {
    var reason: String
    var fatal = false
    init(_ reason: String, fatal: Bool = false) { self.reason = reason; self.fatal = fatal }
    var description: String { reason }
}

extension VhostUserConnection {
    /// What a queue handler did with one chain.
    enum ChainOutcome {
        /// Returned to the driver with this used length.
        case used(UInt32)
        /// Kept by the device (e.g. an eventq buffer waiting for an event).
        case held
    }

    /// The drain loop of the small devices' queues: drains the kick, pops every available chain and hands it to
    /// `handle`; bad chains go back unused (counted). Kicks are re-enabled with a last look before sleeping, and
    /// the driver is signalled once if anything was used. A ring error stops the queue until it is reconfigured.
    func drainChains(_ i: Int, queueName: String,
                     _ handle: (DescriptorChain, DMASpace) throws(VirtqueueError) -> ChainOutcome) {
        if let kick = queues[i].kick { _ = EventFD.drain(kick) }
        guard queues[i].enabled, queues[i].started, !queues[i].broken, var queue = queues[i].queue else { return }
        let dma = self.dma
        var published = false
        do throws(VirtqueueError) {
            while true {
                while let popped = try queue.popChain(dma: dma) {
                    switch popped {
                    case .success(let chain):
                        if case .used(let length) = try handle(chain, dma) {
                            try queue.pushUsed(head: chain.head, length: length, dma: dma)
                            published = true
                        }
                    case .failure(let bad):
                        logger.warning("\(queueName): bad descriptor chain \(bad.head): \(bad.error)")
                        counters.count { $0.badChains &+= 1 }
                        try queue.pushUsed(head: bad.head, length: 0, dma: dma)
                        published = true
                    }
                }
                try queue.enableKicks(dma: dma)
                if !queue.hasPending(dma: dma) { break }
            }
        } catch {
            logger.warning("\(queueName) stopped: \(error); it restarts when the frontend reconfigures it")
            queues[i].broken = true
        }
        if published, queue.needsNotification(dma: dma), let call = queues[i].call { EventFD.signal(call) }
        queues[i].queue = queue
    }
}
