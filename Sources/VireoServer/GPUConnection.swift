// GPUConnection: one frontend connection. It owns the vhost-user state (features, memory table, vrings), drives
// the GPU device from the queues, and forwards display events to the side channel. Runs on its own thread;
// nothing in it is shared except the DisplaySet.
import Display
import Foundation
import GuestMemory
import Logging
import VhostUser
import VireoSystem
import Virtio
import VirtioGPU
import Wire

public final class GPUConnection: @unchecked Sendable {
    // Sendable: all state is confined to the thread that calls `run()`; other threads only read `displays`.
    public let displays: DisplaySet
    let channel: VhostUserChannel
    let device: GPUDevice
    let config: ServerConfig
    var logger: Logger

    var features: UInt64 = 0
    var protocolFeatures: UInt64 = 0
    var ownerSet = false
    var status: UInt8 = 0
    var regions: [MemoryRegion] = []
    var memory = GuestMemory.empty
    var queues = [QueueState(), QueueState()]
    var sideChannel: GPUSideChannel?
    var sideChannelFeatures: UInt64 = 0
    var sideChannelNegotiated = false
    /// The frontend's display modes were read once (later changes raise VIRTIO_GPU_EVENT_DISPLAY).
    var sideChannelModesKnown = false
    /// The frontend's IOMMU translations (used when VIRTIO_F_ACCESS_PLATFORM is negotiated).
    let iotlb = IOTLB()
    var backendChannel: OwnedFD?
    var processingKick = false
    /// Messages that arrived while waiting for an IOTLB update; handled after the current kick.
    var deferredMessages: [VhostUserMessage] = []
    /// Queues to look at once the current message has been answered.
    var pendingKicks: Set<Int> = []
    let epoll: Epoll

    static let queueCount = 2
    static let socketTag: UInt64 = 1000

    public static var offeredFeatures: UInt64 {
        FeatureBit.version1 | FeatureBit.indirectDesc | FeatureBit.eventIdx | FeatureBit.protocolFeatures
            | FeatureBit.accessPlatform | GPUDevice.offeredFeatures
    }
    public static let offeredProtocolFeatures: UInt64 = [
        VhostUserProtocolFeature.replyAck, .config, .configureMemSlots, .resetDevice, .status, .backendReq,
    ].reduce(0) { $0 | $1.mask }

    public init(socket: OwnedFD, config: ServerConfig, logger: Logger) throws {
        channel = VhostUserChannel(socket: socket)
        self.config = config
        self.logger = logger
        displays = DisplaySet(modes: config.displays)
        device = GPUDevice(displays: displays, limits: config.limits, logger: logger)
        epoll = try Epoll()
        try epoll.add(socket, tag: Self.socketTag)
        installIOTLBHandlers()
    }

    var dma: DMASpace { DMASpace(memory: memory, translator: iommuPlatform ? iotlb : nil) }

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
                } else if let index = Int(exactly: event.tag), index < Self.queueCount {
                    handleKick(index)
                }
                while !deferredMessages.isEmpty || !pendingKicks.isEmpty {
                    if !deferredMessages.isEmpty {
                        guard dispatch(deferredMessages.removeFirst()) else { return }
                    } else {
                        handleKick(pendingKicks.removeFirst())
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
            if message.header.needsReply && negotiated(.replyAck) && !violation.fatal {
                logger.warning("NACK \(name): \(violation.reason)")
                return (try? channel.reply(to: message.header.request, payload: u64(1))) != nil
            }
            logger.warning("closing connection: \(name): \(violation.reason)")
            return false
        } catch {
            logger.warning("closing connection: \(name): \(error)")
            return false
        }
    }

    func negotiated(_ f: VhostUserProtocolFeature) -> Bool { protocolFeatures & f.mask != 0 }
    func u64(_ v: UInt64) -> [UInt8] { var w = WireWriter(); w.write(v); return w.bytes }

    func teardown() {
        for i in queues.indices {
            if let kick = queues[i].kick { epoll.remove(kick) }
            _ = queues[i].stop()
        }
        device.reset()
        regions = []
        memory = .empty
        sideChannel = nil
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
