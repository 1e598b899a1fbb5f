// Helpers for HTTP API tests: a server with chosen settings in a ServiceGroup, a raw HTTP/1.1 client over TCP or a
// unix socket (URLSession cannot do unix sockets or half-sent requests), and test pictures.
import Display
import DisplayPNG
import Foundation
import Logging
import ServiceLifecycle
import Testing
import VireoServer
#if canImport(Glibc)
import Glibc
#endif

struct APIServerDidNotStart: Error {}

enum APIEndpoint: Sendable {
    case tcp(port: Int)
    case unix(path: String)
}

/// Runs an API server with `configure`d settings for `body`, then shuts it down gracefully.
func withAPI<T: Sendable>(
    _ displays: @escaping @Sendable () -> DisplaySet?, clients: @escaping @Sendable () -> [ClientReport] = { [] },
    unixSocket: String? = nil, input: InputPort? = nil,
    checkDMA: (@Sendable (DMACheckRequest) -> Result<DMACheckResult, DMACheckError>)? = nil,
    configure: (inout HTTPAPISettings) -> Void = { _ in }, _ body: (APIEndpoint) async throws -> T
) async throws -> T {
    var logger = Logger(label: "api-test")
    logger.logLevel = .critical
    var settings = HTTPAPISettings(address: unixSocket.map { .unix(path: $0) } ?? .tcp(host: "127.0.0.1", port: 0))
    configure(&settings)
    let server = DisplayHTTPServer(settings: settings, displays: displays, clients: clients, logger: logger, input: input,
                                   checkDMA: checkDMA)
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let group = ServiceGroup(configuration: .init(
        services: [server.makeApplication { port in continuation.yield(port) }], logger: logger))
    let task = Task {
        defer { continuation.finish() }
        try await group.run()
    }
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else {
        await stop()
        throw APIServerDidNotStart()
    }
    let endpoint: APIEndpoint = unixSocket.map { .unix(path: $0) } ?? .tcp(port: port)
    do {
        let result = try await body(endpoint)
        await stop()
        return result
    } catch {
        await stop()
        throw error
    }
}

struct RawReply: Sendable {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
    var error: String { (json?["error"] as? String) ?? "" }
}

struct RawHTTPError: Error, CustomStringConvertible { var description: String }

/// A connected socket to the endpoint (blocking, with a receive timeout).
func connectSocket(_ endpoint: APIEndpoint, timeout: Int = 20) throws -> Int32 {
    let fd: Int32
    switch endpoint {
    case .tcp(let port):
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(fd); throw RawHTTPError(description: "connect: \(errno)") }
    case .unix(let path):
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { close(fd); throw RawHTTPError(description: "connect: \(errno)") }
    }
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    return fd
}

func sendAll(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
        if n <= 0 { return }
        offset += n
    }
}

func receiveAll(_ fd: Int32) -> [UInt8] {
    var data: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        data += buffer[0..<n]
    }
    return data
}

/// Runs blocking `work` on a thread of its own (not Dispatch's pool, which the server in this process uses for its
/// CPU jobs: many blocked clients there would starve it).
func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}

/// One request, Connection: close, on a thread of its own so many may block at once.
func request(_ endpoint: APIEndpoint, _ method: String, _ path: String, body: [UInt8]? = nil,
             headers: [String: String] = [:]) async throws -> RawReply {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            do {
                continuation.resume(returning: try requestBlocking(endpoint, method, path, body: body, headers: headers))
            } catch {
                continuation.resume(throwing: error)
            }
        }.start()
    }
}

/// The same request on the calling thread (for timing-sensitive sequences that run on a thread of their own).
func requestBlocking(_ endpoint: APIEndpoint, _ method: String, _ path: String, body: [UInt8]? = nil,
                     headers: [String: String] = [:]) throws -> RawReply {
    let fd = try connectSocket(endpoint)
    defer { close(fd) }
    var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    for (k, v) in headers { head += "\(k): \(v)\r\n" }
    if let body { head += "Content-Length: \(body.count)\r\n" }
    if body != nil, headers["Content-Type"] == nil { head += "Content-Type: image/png\r\n" }
    head += "\r\n"
    sendAll(fd, Array(head.utf8) + (body ?? []))
    return try parseReply(receiveAll(fd))
}

func parseReply(_ data: [UInt8]) throws -> RawReply {
    guard let end = (0..<max(0, data.count - 3)).first(where: { data[$0] == 13 && data[$0 + 1] == 10 && data[$0 + 2] == 13 && data[$0 + 3] == 10 }) else {
        throw RawHTTPError(description: "no HTTP header in \(data.count) bytes")
    }
    let lines = String(decoding: data[..<end], as: UTF8.self).components(separatedBy: "\r\n")
    let parts = lines[0].split(separator: " ")
    guard parts.count >= 2, let status = Int(parts[1]) else { throw RawHTTPError(description: "bad status line") }
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    var body = Array(data[(end + 4)...])
    if let n = headers["content-length"].flatMap(Int.init), n < body.count { body = Array(body[..<n]) }
    return RawReply(status: status, headers: headers, body: body)
}

/// Scanout 0 enabled at `width` x `height` with a pattern (seed changes it), scanout 1 disabled.
func patternDisplays(width: UInt32 = 64, height: UInt32 = 48, seed: Int = 0) -> DisplaySet {
    let set = DisplaySet(modes: [DisplayMode(enabled: true, width: width, height: height),
                                 DisplayMode(enabled: false, width: 1024, height: 768)])
    set.enable(0, width: width, height: height)
    paint(set, seed: seed)
    return set
}

/// Repaints scanout 0 with the pattern for `seed` (one flush: damage, frame counter + 1).
func paint(_ set: DisplaySet, seed: Int, rect: Rect? = nil) {
    guard let f = set.snapshot(0) else { return }
    let r = rect ?? Rect(x: 0, y: 0, width: f.width, height: f.height)
    set.update(0, damage: r) { buffer, stride in
        for y in Int(r.y)..<Int(r.y + r.height) {
            for x in Int(r.x)..<Int(r.x + r.width) {
                let i = y * stride + x * 4
                buffer[i] = UInt8(truncatingIfNeeded: x * 5 + seed); buffer[i + 1] = UInt8(truncatingIfNeeded: y * 9)
                buffer[i + 2] = UInt8(truncatingIfNeeded: (x * y) ^ seed); buffer[i + 3] = 0
            }
        }
    }
}

/// The PNG of scanout 0 now (or of a region), as a client would save it for a reference.
func referencePNG(_ set: DisplaySet, region: Rect? = nil) throws -> [UInt8] {
    let frame = try #require(set.snapshot(0))
    if let region { return try PNGEncoder.encode(frame, region: region) }
    return try PNGEncoder.encode(frame)
}
