// DisplayHTTPServer: the Hummingbird 2 HTTP API that lists the guest's displays and serves their pictures as PNG.
// Routes are in DisplayRoutes.swift; errors and their JSON shape in APIError.swift.
import Display
import DisplayPNG
import Hummingbird
import Logging

public struct DisplayHTTPServer: Sendable {
    public let host: String
    public let port: Int
    public let logger: Logger
    let routes: DisplayRoutes

    /// - Parameters:
    ///   - port: 0 picks a free port; learn it from `makeApplication(onListening:)`.
    ///   - displays: the connected guest's displays, or nil when no guest is connected (the API answers 503).
    ///   - options: PNG settings for screenshots (`.fast` is measured for live use).
    public init(host: String, port: Int, displays: @escaping @Sendable () -> DisplaySet?, logger: Logger,
                options: PNGOptions = .fast) {
        self.host = host
        self.port = port
        self.logger = logger
        self.routes = DisplayRoutes(displays: displays, options: options)
    }

    /// The router with every route and the JSON error middleware (for in-process tests or embedding).
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        routes.register(on: router)
        return router
    }

    /// The application, ready to `run()` or to add to a ServiceGroup (it is a `Service`). `onListening` gets the
    /// bound port once the socket listens, which is how a caller learns the port when it asked for 0.
    public func makeApplication(onListening: @escaping @Sendable (Int) async -> Void = { _ in })
        -> some ApplicationProtocol
    {
        let logger = self.logger
        return Application(
            router: makeRouter(),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "vireo"),
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
