// GPUServer: accepts frontends on the listening socket (or serves one inherited socket) one at a time, like QEMU's
// backend program conventions expect; each connection's state is dropped when it ends, then the next is accepted.
import Display
import Foundation
import Logging
import Synchronization
import VireoSystem

public final class GPUServer: Sendable {
    public let config: ServerConfig
    let logger: Logger
    private let current = Mutex<GPUConnection?>(nil)
    private let connectionCount = Mutex<Int>(0)

    public init(config: ServerConfig, logger: Logger) {
        self.config = config
        self.logger = logger
    }

    /// The displays of the connected frontend (nil when none is connected).
    public var displays: DisplaySet? { current.withLock { $0?.displays } }
    public var connectionsServed: Int { connectionCount.withLock { $0 } }

    /// Serves one already-connected socket until it closes.
    public func serve(socket: OwnedFD) {
        let n = connectionCount.withLock { $0 += 1; return $0 }
        var log = logger
        log[metadataKey: "connection"] = "\(n)"
        do {
            let connection = try GPUConnection(socket: socket, config: config, logger: log)
            current.withLock { $0 = connection }
            connection.run()
            current.withLock { $0 = nil }
        } catch {
            log.error("cannot serve connection: \(error)")
        }
    }

    /// Accepts and serves connections one after another, forever (until the process ends).
    public func serve(listener: OwnedFD) {
        while true {
            do {
                let socket = try UnixSocket.accept(listener)
                serve(socket: socket)
            } catch {
                logger.error("accept failed: \(error)")
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }
}
