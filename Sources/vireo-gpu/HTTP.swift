// Starts the HTTP API (if asked) on its own thread with its own async runtime, beside the blocking vhost-user loop;
// parses --http, --api-token-file and --max-upload.
import ArgumentParser
import Foundation
import Logging
import VireoServer

func startHTTP(settings: HTTPAPISettings, server: GPUServer, logger: Logger) {
    let http = DisplayHTTPServer(settings: settings, displays: { server.displays },
                                 clients: { server.clientReports() }, logger: logger, input: server.input,
                                 checkDMA: { server.checkDMA($0) })
    let started = DispatchSemaphore(value: 0)
    let shown: String
    switch settings.address {
    case .tcp(let host, _): shown = host.contains(":") ? "[\(host)]" : host
    case .unix(let path): shown = "unix:\(path)"
    }
    Thread {
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await http.makeApplication(onListening: { bound in
                    if case .unix = settings.address {
                        logger.info("HTTP API on \(shown) (curl --unix-socket ... http://localhost/v1/displays)")
                    } else {
                        logger.info("HTTP API on http://\(shown):\(bound)/v1/displays")
                    }
                    started.signal()
                }).runService(gracefulShutdownSignals: [])   // ShutdownHandler takes SIGTERM/SIGINT (sigwait)
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

/// `--http`: `HOST:PORT`, `[V6ADDR]:PORT`, `PORT` or `:PORT` (loopback), or `unix:PATH`.
func parseHTTPAddress(_ spec: String) throws -> HTTPAPISettings.Address {
    if spec.hasPrefix("unix:") {
        let path = String(spec.dropFirst(5))
        guard !path.isEmpty, path.utf8.count < 108 else {
            throw ValidationError("--http \(spec): expected unix:PATH (a path shorter than 108 bytes)")
        }
        return .unix(path: path)
    }
    let colon = spec.lastIndex(of: ":")
    let portText = colon.map { String(spec[spec.index(after: $0)...]) } ?? spec
    var host = colon.map { String(spec[..<$0]) } ?? ""
    guard let port = Int(portText), (0...65535).contains(port), portText.allSatisfy(\.isNumber) else {
        throw ValidationError("--http \(spec): expected HOST:PORT, PORT or unix:PATH")
    }
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return .tcp(host: host.isEmpty ? "127.0.0.1" : host, port: port)
}

/// `--api-token-file`: the token is the file's first line, surrounding whitespace removed.
func readToken(_ path: String) throws -> String {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw ValidationError("--api-token-file \(path): cannot read it")
    }
    let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    guard !token.isEmpty, token.utf8.count <= 4096, token.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
        throw ValidationError("--api-token-file \(path): the first line must be a token (printable ASCII, no spaces)")
    }
    return token
}

/// `--max-upload`: bytes, or with a K/M suffix (KiB, MiB).
func parseSize(_ spec: String) throws -> Int {
    let upper = spec.uppercased()
    var digits = upper, shift = 0
    if upper.hasSuffix("K") { digits = String(upper.dropLast()); shift = 10 }
    if upper.hasSuffix("M") { digits = String(upper.dropLast()); shift = 20 }
    guard let n = Int(digits), n > 0, n <= (1 << 30) >> shift else {
        throw ValidationError("--max-upload \(spec): expected a size such as 32M, 512K or 1048576 (at most 1G)")
    }
    return n << shift
}

func isLoopback(_ address: HTTPAPISettings.Address) -> Bool {
    switch address {
    case .unix: true
    case .tcp(let host, _): host == "127.0.0.1" || host == "::1" || host == "localhost" || host.hasPrefix("127.")
    }
}
