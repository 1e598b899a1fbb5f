// vireo-gpu: the drop-in vhost-user GPU backend (QEMU vhost-user.rst "Backend program conventions").
import ArgumentParser
import Display
import Foundation
import Logging
import VireoServer
import VireoSystem

@main
struct VireoGPU: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "vireo-gpu",
        abstract: "Vireo: a headless vhost-user virtio-gpu backend with PNG export.",
        discussion: """
            Serves one virtio-gpu device to a vhost-user frontend (QEMU -device vhost-user-gpu-pci).
            Example: vireo-gpu --socket-path /run/vgpu.sock --http 127.0.0.1:8080
            """,
        version: version)

    @Option(name: .customLong("socket-path"), help: "Listen on this unix socket (removed at exit).")
    var socketPath: String?

    @Option(name: .customLong("fd"), help: "Serve an inherited, already connected socket.")
    var fd: Int32?

    @Flag(name: .customLong("print-capabilities"), help: "Print the backend capabilities JSON and exit.")
    var printCapabilities = false

    @Option(name: .customLong("render-node"), help: "DRM render node for 3D (accepted; 3D is not available yet).")
    var renderNode: String?

    @Flag(name: .customLong("virgl"), help: "Enable 3D (virgl). Not available yet: exits with an error.")
    var virgl = false

    @Option(name: .customLong("display"), help: "A display WIDTHxHEIGHT when no frontend display decides (repeat for more scanouts, up to 16).")
    var display: [String] = []

    @Option(name: .customLong("http"), help: "Serve the HTTP API (screenshots, compare, wait-for) on HOST:PORT, PORT (loopback) or unix:PATH.")
    var http: String?

    @Option(name: .customLong("api-token-file"), help: "Require 'Authorization: Bearer TOKEN' on the HTTP API; the token is this file's first line.")
    var apiTokenFile: String?

    @Option(name: .customLong("max-upload"), help: "Largest reference or needle PNG the HTTP API accepts (bytes, or with K/M).")
    var maxUpload: String = "32M"

    @Option(name: .customLong("memory-quota"), help: "Host memory for resources per connection, in MiB.")
    var memoryQuotaMiB: UInt64 = 256

    @Option(name: .customLong("max-resources"), help: "Most resources per connection.")
    var maxResources: Int = 4096

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func validate() throws {
        if printCapabilities { return }
        guard (socketPath == nil) != (fd == nil) else {
            throw ValidationError("give exactly one of --socket-path PATH or --fd N")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard display.count <= DisplaySet.maxScanouts else { throw ValidationError("at most 16 --display") }
        _ = try displayModes()
        if let http { _ = try parseHTTPAddress(http) }
        if let apiTokenFile { _ = try readToken(apiTokenFile) }
        _ = try parseSize(maxUpload)
        guard memoryQuotaMiB > 0, memoryQuotaMiB <= 1 << 20 else { throw ValidationError("--memory-quota out of range") }
        guard maxResources > 0 else { throw ValidationError("--max-resources must be positive") }
    }

    func displayModes() throws -> [DisplayMode] {
        if display.isEmpty { return [DisplayMode(enabled: true, width: 1280, height: 800)] }
        return try display.map { spec in
            let parts = spec.lowercased().split(separator: "x")
            guard parts.count == 2, let w = UInt32(parts[0]), let h = UInt32(parts[1]),
                  (16...16384).contains(w), (16...16384).contains(h) else {
                throw ValidationError("--display \(spec): expected WIDTHxHEIGHT, 16...16384 each")
            }
            return DisplayMode(enabled: true, width: w, height: h)
        }
    }

    func run() throws {
        if printCapabilities {
            // Only what works: --virgl is refused until 3D lands, so libvirt must not pass it.
            print(#"{"type": "gpu", "features": ["render-node"]}"#)
            return
        }
        if virgl {
            FileHandle.standardError.write(Data("vireo-gpu: --virgl: 3D (virglrenderer) is not available in this version; run without --virgl for 2D\n".utf8))
            throw ExitCode(1)
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "vireo-gpu")
        var config = ServerConfig()
        config.displays = try displayModes()
        config.limits.hostMemoryQuota = memoryQuotaMiB << 20
        config.limits.maxResources = maxResources
        let server = GPUServer(config: config, logger: logger)

        ShutdownHandler.install(socketPath: socketPath, logger: logger)
        if let http {
            var settings = HTTPAPISettings(address: try parseHTTPAddress(http))
            settings.token = try apiTokenFile.map(readToken)
            settings.maxUploadBytes = try parseSize(maxUpload)
            if !isLoopback(settings.address) && settings.token == nil {
                logger.warning("HTTP API on a non-loopback address without --api-token-file: anyone who can reach it sees the screen")
            }
            if case .unix(let path) = settings.address { ShutdownHandler.apiSocket = path }
            startHTTP(settings: settings, server: server, logger: logger)
        }

        if let fd {
            server.serve(socket: OwnedFD(taking: fd))
            ShutdownHandler.removeSocket()
            return
        }
        guard let socketPath else { return }
        unlink(socketPath)
        let listener = try UnixSocket.listen(path: socketPath)
        logger.info("listening on \(socketPath)")
        server.serve(listener: listener)
    }
}

/// SIGTERM/SIGINT: remove the socket file and exit cleanly. The signals are blocked in every thread (set before
/// any thread starts, so all inherit it) and taken by one thread with sigwait.
enum ShutdownHandler {
    nonisolated(unsafe) static var path: String?
    /// The HTTP API's unix socket (`--http unix:PATH`), removed at exit too.
    nonisolated(unsafe) static var apiSocket: String?
    static func install(socketPath: String?, logger: Logger) {
        path = socketPath
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let blocked = set
        Thread {
            var sig: Int32 = 0
            var waitSet = blocked
            sigwait(&waitSet, &sig)
            logger.info("signal \(sig): shutting down")
            removeSocket()
            exit(0)
        }.start()
    }
    static func removeSocket() {
        if let path { unlink(path) }
        if let apiSocket { unlink(apiSocket) }
    }
}
