// DisplayHTTPServer: the Hummingbird 2 HTTP API that lists the guest's displays, serves their pictures (PNG, PPM),
// compares them with references and waits for pictures to appear, and types keys into the guest's input device. Routes are in DisplayRoutes*.swift; errors and
// their JSON shape in APIError.swift; the API is documented in docs/api.md and docs/openapi.json.
import Display
import DisplayPNG
import Foundation
import Hummingbird
import Logging
import NIOCore

/// Where and how the API serves.
public struct HTTPAPISettings: Sendable {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// A unix socket path; a stale socket file there is replaced.
        case unix(path: String)
    }
    public var address: Address
    /// When set, every request needs `Authorization: Bearer <token>` (else 401).
    public var token: String?
    /// Largest request body (reference or needle PNG) accepted; larger is 413.
    public var maxUploadBytes = 32 << 20
    /// A connection that sends nothing for this long is closed (stalled clients cannot hold connections forever).
    public var idleTimeout: Duration = .seconds(30)
    /// Each whole request (head and body) must arrive within this, counted from connect or the previous response
    /// (clients trickling bytes cannot hold connections forever either).
    public var requestReadTimeout: Duration = .seconds(60)
    /// Requests that may wait at once (wait=settled, after_frame, wait-for); more get 429.
    public var maxWaiters = 64
    /// Longest timeout_ms a request may ask for.
    public var maxTimeoutMs = 300_000
    /// PNG settings for screenshots (`.fast` is measured for live use).
    /// Screenshots' PNG settings unless a request names a preset (`compression=`).
    public var pngOptions: PNGOptions = .compact

    public init(address: Address) { self.address = address }
}

public struct DisplayHTTPServer: Sendable {
    public let settings: HTTPAPISettings
    public let logger: Logger
    let routes: DisplayRoutes
    let clientRoutes: ClientRoutes

    public var host: String { if case .tcp(let h, _) = settings.address { h } else { "localhost" } }
    public var port: Int { if case .tcp(_, let p) = settings.address { p } else { 0 } }

    /// - Parameters:
    ///   - port: 0 picks a free port; learn it from `makeApplication(onListening:)`.
    ///   - displays: the connected guest's displays, or nil when no guest is connected (the API answers 503).
    ///   - options: PNG settings for screenshots (`.fast` is measured for live use).
    public init(host: String, port: Int, displays: @escaping @Sendable () -> DisplaySet?, logger: Logger,
                options: PNGOptions = .fast) {
        var settings = HTTPAPISettings(address: .tcp(host: host, port: port))
        settings.pngOptions = options
        self.init(settings: settings, displays: displays, logger: logger)
    }

    ///   - clients: the clients' limits and refusal counters (`GET /v1/clients`; `GPUServer.clientReports`).
    ///   - input: the client's input device, for `POST /v1/input/keys` (nil: that route answers 503).
    public init(settings: HTTPAPISettings, displays: @escaping @Sendable () -> DisplaySet?,
                clients: @escaping @Sendable () -> [ClientReport] = { [] }, logger: Logger, input: InputPort? = nil,
                checkDMA: (@Sendable (DMACheckRequest) -> Result<DMACheckResult, DMACheckError>)? = nil) {
        self.settings = settings
        self.logger = logger
        self.routes = DisplayRoutes(displays: displays, settings: settings, input: input)
        self.clientRoutes = ClientRoutes(clients: clients, checkDMA: checkDMA)
    }

    /// The router with every route and the JSON error middleware (for in-process tests or embedding).
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        if let token = settings.token { router.add(middleware: BearerTokenMiddleware(token: Array(token.utf8))) }
        routes.register(on: router)
        clientRoutes.register(on: router)
        return router
    }

    /// The application, ready to `run()` or to add to a ServiceGroup (it is a `Service`). `onListening` gets the
    /// bound port once the socket listens (-1 for a unix socket), which is how a caller learns the port when it
    /// asked for 0.
    public func makeApplication(onListening: @escaping @Sendable (Int) async -> Void = { _ in })
        -> some ApplicationProtocol
    {
        let logger = self.logger
        let address: BindAddress
        switch settings.address {
        case .tcp(let host, let port): address = .hostname(host, port: port)
        case .unix(let path):
            var st = stat()
            if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
            address = .unixDomainSocket(path: path)
        }
        func amount(_ d: Duration) -> TimeAmount {
            .nanoseconds(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
        }
        let readLimit = amount(settings.requestReadTimeout)
        return Application(
            router: makeRouter(),
            server: .http1(configuration: .init(
                additionalChannelHandlers: [RequestReadDeadlineHandler(limit: readLimit)],
                idleTimeout: amount(settings.idleTimeout))),
            configuration: ApplicationConfiguration(address: address, serverName: "vireo"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? -1
                logger.info("HTTP API listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
                await onListening(bound)
            },
            logger: logger)
    }

    /// Serves until the surrounding task is cancelled.
    public func run() async throws {
        try await makeApplication().run()
    }
}
