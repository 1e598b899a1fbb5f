// Starts the HTTP API (if asked) on its own thread with its own async runtime, beside the blocking vhost-user loop.
import Foundation
import Logging
import VireoServer

func startHTTP(host: String, port: Int, server: GPUServer, logger: Logger) {
    let http = DisplayHTTPServer(host: host, port: port, displays: { server.displays }, logger: logger)
    let started = DispatchSemaphore(value: 0)
    Thread {
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await http.makeApplication(onListening: { bound in
                    logger.info("HTTP API on http://\(host):\(bound)/v1/displays")
                    started.signal()
                }).runService()
            } catch {
                logger.critical("HTTP API failed: \(error)")
                exit(1)
            }
            done.signal()
        }
        done.wait()
    }.start()
    // Start serving the guest only once the API is up, so scripts can rely on it.
    if started.wait(timeout: .now() + 10) == .timedOut { logger.warning("HTTP API not up after 10 s") }
}
