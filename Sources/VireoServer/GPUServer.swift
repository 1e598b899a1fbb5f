// GPUServer: accepts frontends on the listening socket (or serves one inherited socket) one at a time, like QEMU's
// backend program conventions expect; each connection's state is dropped when it ends, then the next is accepted.
// With a ClientContext it also serves the client's virtio-iommu on a second socket: the two accept loops run on
// their own threads, in either order, and share the context (one client at a time on each socket).
// With an InputPort it serves the client's virtio-input on a third socket (its own accept loop and thread), and
// `inputSink` is what display exporters (VNC) hand keyboard and pointer events to.
import Display
import Foundation
import Logging
import Synchronization
import VireoSystem

public final class GPUServer: Sendable {
    public let config: ServerConfig
    let logger: Logger
    /// The client's virtio-iommu and the GPU's endpoint on it; nil: the GPU's DMA is not translated by Vireo.
    public let client: ClientContext?
    /// What the client was refused, since the process started (`GET /v1/clients`).
    public let counters = ClientCounters()
    private let current = Mutex<GPUConnection?>(nil)
    private let connectionCount = Mutex<Int>(0)
    private let iommuConnectionCount = Mutex<Int>(0)
    /// The client's virtio-input device (`--input-socket`); nil: user input has nowhere to go.
    public let input: InputPort?
    /// Where display exporters deliver the user's keyboard and pointer: the input device, or a sink that drops
    /// events (logged once) when none is configured.
    public let inputSink: any InputSink
    private let inputConnectionCount = Mutex<Int>(0)

    public init(config: ServerConfig, logger: Logger, client: ClientContext? = nil, input: InputPort? = nil) {
        self.config = config
        self.logger = logger
        self.client = client
        self.input = input
        inputSink = input ?? DroppingInputSink(logger: logger)
    }

    /// Whether the connected GPU may access guest addresses now (see DMACheck); nothing is read or written.
    public func checkDMA(_ request: DMACheckRequest, timeout: TimeInterval = 10) -> Result<DMACheckResult, DMACheckError> {
        guard let connection = current.withLock({ $0 }) else { return .failure(.noGuest) }
        return connection.dmaChecks.ask(request, timeout: timeout) ?? .failure(.timedOut)
    }

    /// Asks for another size of a scanout (a viewer's resize): the guest is told where the frontend allows it
    /// (see DisplayResize); otherwise the reason comes back.
    public func resizeDisplay(_ request: DisplayResizeRequest, timeout: TimeInterval = 5) -> Result<Void, DisplayResizeError> {
        guard let connection = current.withLock({ $0 }) else { return .failure(.noGuest) }
        return connection.displayResizes.ask(request, timeout: timeout) ?? .failure(.timedOut)
    }

    /// The displays of the connected frontend (nil when none is connected).
    public var displays: DisplaySet? { current.withLock { $0?.displays } }
    public var connectionsServed: Int { connectionCount.withLock { $0 } }
    public var iommuConnectionsServed: Int { iommuConnectionCount.withLock { $0 } }
    public var inputConnectionsServed: Int { inputConnectionCount.withLock { $0 } }

    /// Serves one already-connected socket until it closes.
    public func serve(socket: OwnedFD) {
        let n = connectionCount.withLock { $0 += 1; return $0 }
        var log = logger
        log[metadataKey: "connection"] = "\(n)"
        do {
            counters.count { $0.gpuConnections &+= 1 }
            let connection = try GPUConnection(socket: socket, config: config, logger: log, client: client,
                                               counters: counters)
            let before = counters.snapshot
            current.withLock { $0 = connection }
            connection.run()
            current.withLock { $0 = nil }
            let after = counters.snapshot
            let refused = after.gpuRefusals.values.reduce(0, &+) &- before.gpuRefusals.values.reduce(0, &+)
            log.info("connection summary", metadata: [
                "commands": "\(after.gpuCommands &- before.gpuCommands)", "refused": "\(refused)",
                "bad_chains": "\(after.badChains &- before.badChains)",
                "vhost_user_refusals": "\(after.vhostUserRefusals &- before.vhostUserRefusals)",
                "iotlb_access_failures": "\(after.iotlbAccessFailures &- before.iotlbAccessFailures)"])
        } catch {
            log.error("cannot serve connection: \(error)")
        }
    }

    /// Serves one already-connected virtio-iommu socket until it closes (needs a ClientContext).
    public func serveIOMMU(socket: OwnedFD) {
        guard let client else { return logger.error("no virtio-iommu configured") }
        let n = iommuConnectionCount.withLock { $0 += 1; return $0 }
        var log = logger
        log[metadataKey: "iommu-connection"] = "\(n)"
        do {
            counters.count { $0.iommuConnections &+= 1 }
            try IOMMUConnection(socket: socket, config: config, logger: log, client: client, counters: counters).run()
        } catch {
            log.error("cannot serve virtio-iommu connection: \(error)")
        }
    }

    /// Serves one already-connected virtio-input socket until it closes (needs an InputPort).
    public func serveInput(socket: OwnedFD) {
        guard let input else { return logger.error("no virtio-input configured") }
        let n = inputConnectionCount.withLock { $0 += 1; return $0 }
        var log = logger
        log[metadataKey: "input-connection"] = "\(n)"
        do {
            try InputConnection(socket: socket, config: config, logger: log, port: input, counters: counters).run()
        } catch {
            log.error("cannot serve virtio-input connection: \(error)")
        }
    }

    /// Accepts and serves connections one after another, forever (until the process ends).
    public func serve(listener: OwnedFD) { acceptLoop(listener, serve(socket:)) }

    /// The virtio-iommu's accept loop; run it on its own thread beside `serve(listener:)`.
    public func serveIOMMU(listener: OwnedFD) { acceptLoop(listener, serveIOMMU(socket:)) }

    /// The virtio-input's accept loop; run it on its own thread beside `serve(listener:)`.
    public func serveInput(listener: OwnedFD) { acceptLoop(listener, serveInput(socket:)) }

    private func acceptLoop(_ listener: OwnedFD, _ body: (OwnedFD) -> Void) {
        while true {
            do {
                let socket = try UnixSocket.accept(listener)
                body(socket)
            } catch {
                logger.error("accept failed: \(error)")
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }
}
