// vireo-gpu: the drop-in vhost-user GPU backend (QEMU vhost-user.rst "Backend program conventions").
import ArgumentParser
import Display
import DisplayPNG
import Foundation
import Logging
import VireoServer
import VireoSystem
import VirtioIOMMU

@main
struct VireoGPU: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "vireo-gpu",
        abstract: "Vireo: a headless vhost-user virtio-gpu backend with VNC and PNG export.",
        discussion: """
            Serves one virtio-gpu device to a vhost-user frontend (QEMU -device vhost-user-gpu-pci).
            Example: vireo-gpu --socket-path /run/vgpu.sock --http 127.0.0.1:8080 --vnc 5900
            With --vnc, scanout N is served on PORT+N (and on WebSocket PORT+N with --vnc-websocket).
            With --iommu-socket PATH it also serves a virtio-iommu (vhost-user-device, virtio id 23) for the same
            client; ring and buffer addresses are then IOVAs of --endpoint N.
            With --input-socket PATH it also serves a virtio-input keyboard and tablet (QEMU -device
            vhost-user-input-pci): the VNC clients' keys and pointer reach the guest through it.
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

    @Option(name: .customLong("vnc"), help: "Serve each scanout over VNC: HOST:PORT (IPv4), PORT (127.0.0.1) or none (the default); scanout N on PORT+N.")
    var vnc: String = "none"

    @Option(name: .customLong("vnc-password-file"), help: "Require VNC authentication with this file's first line as the password (VNC uses its first 8 characters); wrong passwords are slowed down per client address.")
    var vncPasswordFile: String?

    @Option(name: .customLong("vnc-websocket"), help: "Also accept WebSocket clients (noVNC) for scanout N on PORT+N, same host as --vnc. The VNC port itself accepts WebSocket too.")
    var vncWebSocket: Int?

    @Option(name: .customLong("vnc-tls-cert"), help: "PEM certificate for WebSocket over TLS (wss://, noVNC over https); needs --vnc-tls-key.")
    var vncTLSCert: String?

    @Option(name: .customLong("vnc-tls-key"), help: "PEM private key for --vnc-tls-cert.")
    var vncTLSKey: String?

    @Option(name: .customLong("api-token-file"), help: "Require 'Authorization: Bearer TOKEN' on the HTTP API; the token is this file's first line.")
    var apiTokenFile: String?

    @Option(name: .customLong("png-compression"), help: "Screenshots' PNG preset unless a request names one: fast (level 1, for polling), compact (zlib 6 after a per-row filter choice: QEMU-sized files, the default) or small (libpng's adaptive filters).")
    var pngCompression: String = "compact"

    @Option(name: .customLong("max-upload"), help: "Largest reference or needle PNG the HTTP API accepts (bytes, or with K/M).")
    var maxUpload: String = "32M"

    @OptionGroup(title: "Client limits")
    var limits: ClientLimitOptions

    @Option(name: .customLong("poll-us"), help: "Busy-poll the ring this many microseconds after each kick's work, and spin as long for display replies, before sleeping (0: off; costs CPU while spinning).")
    var pollMicroseconds: Int = ServerConfig().pollMicroseconds

    @Option(name: .customLong("trace-flushes"), help: "Diagnostics: append one line per RESOURCE_FLUSH to this file (wall-clock seconds.microseconds, resource, rectangle), to match a viewer's receive time to a flush (scripts/bench-vnc.sh).")
    var traceFlushes: String?

    @Option(name: .customLong("iommu-socket"), help: "Also serve a virtio-iommu (device 23) for the same client on this unix socket; the GPU's DMA then goes through its endpoint, and is refused until the guest attaches it.")
    var iommuSocket: String?

    @Option(name: .customLong("endpoint"), help: "The GPU's endpoint id on the virtio-iommu (the id the guest's driver attaches; with QEMU, the GPU's PCI requester id). Default 0.")
    var endpoint: UInt32 = 0

    @Option(name: .customLong("input-socket"), help: "Also serve a virtio-input keyboard and tablet (device 18, QEMU -device vhost-user-input-pci) on this unix socket: VNC clients' keys, pointer and clipboard text reach the guest through it.")
    var inputSocket: String?

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
        let vncAddress = try VNCAddress.parse(vnc)
        if let vncPasswordFile { _ = try readVNCPassword(vncPasswordFile) }
        if let vncWebSocket, !(1...65535).contains(vncWebSocket) { throw ValidationError("--vnc-websocket: 1...65535") }
        if vncAddress == nil, vncPasswordFile != nil || vncWebSocket != nil || vncTLSCert != nil || vncTLSKey != nil {
            throw ValidationError("the --vnc-* options need --vnc HOST:PORT")
        }
        let scanouts = try displayModes().count
        if let vncAddress, vncAddress.port + scanouts - 1 > 65535 { throw ValidationError("--vnc: PORT+\(scanouts - 1) is past 65535") }
        if let vncWebSocket, vncWebSocket + scanouts - 1 > 65535 { throw ValidationError("--vnc-websocket: PORT+\(scanouts - 1) is past 65535") }
        if (vncTLSCert == nil) != (vncTLSKey == nil) { throw ValidationError("--vnc-tls-cert and --vnc-tls-key go together") }
        for path in [vncTLSCert, vncTLSKey].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: path) {
            throw ValidationError("cannot read \(path)")
        }
        _ = try parseSize(maxUpload)
        guard PNGOptions.preset(named: pngCompression) != nil else {
            throw ValidationError("--png-compression \(pngCompression): expected one of \(PNGOptions.presets.map(\.name).joined(separator: ", "))")
        }
        guard (0...10_000).contains(pollMicroseconds) else { throw ValidationError("--poll-us: 0...10000") }
        _ = try limits.resolve()
        if iommuSocket != nil, iommuSocket == socketPath { throw ValidationError("--iommu-socket must differ from --socket-path") }
        if let inputSocket, inputSocket == socketPath || inputSocket == iommuSocket {
            throw ValidationError("--input-socket must differ from --socket-path and --iommu-socket")
        }
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
        let (gpuLimits, iommuLimits) = try limits.resolve()
        config.limits = gpuLimits
        config.pollMicroseconds = pollMicroseconds
        do {
            config.flushTrace = try traceFlushes.map { try FlushTrace(path: $0) }
        } catch {
            throw ValidationError("--trace-flushes: \(error)")
        }
        var client: ClientContext?
        if iommuSocket != nil {
            client = try ClientContext(endpoint: endpoint, limits: iommuLimits, logger: logger)
        }
        let input = try inputSocket.map { _ in try InputPort(logger: logger) }
        let server = GPUServer(config: config, logger: logger, client: client, input: input)

        ShutdownHandler.install(socketPaths: [socketPath, iommuSocket, inputSocket].compactMap { $0 }, logger: logger)
        if let http {
            var settings = HTTPAPISettings(address: try parseHTTPAddress(http))
            settings.token = try apiTokenFile.map(readToken)
            settings.maxUploadBytes = try parseSize(maxUpload)
            settings.pngOptions = PNGOptions.preset(named: pngCompression) ?? .compact
            if !isLoopback(settings.address) && settings.token == nil {
                logger.warning("HTTP API on a non-loopback address without --api-token-file: anyone who can reach it sees the screen")
            }
            if case .unix(let path) = settings.address { ShutdownHandler.apiSocket = path }
            startHTTP(settings: settings, server: server, logger: logger)
        }

        if let vncAddress = try VNCAddress.parse(vnc) {
            do {
                _ = try startVNC(address: vncAddress, modes: config.displays,
                                 password: try vncPasswordFile.map(readVNCPassword), websocketPort: vncWebSocket,
                                 tlsCertificate: vncTLSCert, tlsKey: vncTLSKey, server: server, logger: logger)
            } catch {
                FileHandle.standardError.write(Data("vireo-gpu: --vnc: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }

        if let iommuSocket {
            // Its own accept loop: the frontend may connect the two sockets in either order.
            unlink(iommuSocket)
            let listener = try UnixSocket.listen(path: iommuSocket)
            logger.info("virtio-iommu listening on \(iommuSocket) (GPU endpoint \(endpoint))")
            Thread { server.serveIOMMU(listener: listener) }.start()
        }
        if let inputSocket {
            // Its own accept loop too: QEMU connects each vhost-user device's socket when it creates the device.
            unlink(inputSocket)
            let listener = try UnixSocket.listen(path: inputSocket)
            logger.info("virtio-input listening on \(inputSocket)")
            Thread { server.serveInput(listener: listener) }.start()
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
    nonisolated(unsafe) static var paths: [String] = []
    /// The HTTP API's unix socket (`--http unix:PATH`), removed at exit too.
    nonisolated(unsafe) static var apiSocket: String?
    static func install(socketPaths: [String], logger: Logger) {
        paths = socketPaths
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
        for path in paths { unlink(path) }
        if let apiSocket { unlink(apiSocket) }
    }
}
