// HTTPClient: a minimal blocking HTTP/1.1 client over TCP or a unix socket (one request per connection,
// Connection: close), enough for vireo-gpu's API. URLSession cannot reach unix sockets.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

struct HTTPReply {
    var status: Int
    var headers: [String: String]    // lower-cased names
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
    var errorMessage: String { (json?["error"] as? String) ?? "HTTP \(status): \(text.prefix(200))" }
}

struct ClientError: Error, CustomStringConvertible {
    var description: String
}

struct HTTPClient {
    enum Endpoint { case tcp(host: String, port: Int), unix(path: String) }
    var endpoint: Endpoint
    var basePath = ""
    var token: String?

    /// `http://HOST:PORT[/prefix]` or `unix:PATH` / a socket path.
    init(url: String?, socket: String?, token: String?) throws {
        self.token = token
        if let socket {
            endpoint = .unix(path: socket)
            return
        }
        let spec = url ?? "http://127.0.0.1:8080"
        if spec.hasPrefix("unix:") {
            endpoint = .unix(path: String(spec.dropFirst(5)))
            return
        }
        guard spec.hasPrefix("http://") else {
            throw ClientError(description: "--url \(spec): expected http://HOST:PORT or unix:PATH (https is not supported)")
        }
        var rest = spec.dropFirst(7)
        if let slash = rest.firstIndex(of: "/") {
            basePath = String(rest[slash...]).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            if !basePath.isEmpty { basePath = "/" + basePath }
            rest = rest[..<slash]
        }
        var host = String(rest), port = 80
        if let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") {
            guard let p = Int(host[host.index(after: colon)...]), (1...65535).contains(p) else {
                throw ClientError(description: "--url \(spec): bad port")
            }
            port = p
            host = String(host[..<colon])
        }
        if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
        endpoint = .tcp(host: host, port: port)
    }

    var display: String {
        switch endpoint {
        case .tcp(let h, let p): "http://\(h.contains(":") ? "[\(h)]" : h):\(p)\(basePath)"
        case .unix(let path): "unix:\(path)"
        }
    }

    func request(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String? = nil,
                 timeout: Double) throws -> HTTPReply {
        let fd = try connect(timeout: timeout)
        defer { close(fd) }
        var head = "\(method) \(basePath)\(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nUser-Agent: vireo-cli\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        if body != nil || method == "POST" { head += "Content-Length: \(body?.count ?? 0)\r\n" }
        head += "\r\n"
        try writeAll(fd, Array(head.utf8) + (body ?? []))
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw ClientError(description: "no answer from \(display) within \(Int(timeout)) s") }
                if errno == ECONNRESET && !data.isEmpty { break }
                throw ClientError(description: "reading from \(display): \(String(cString: strerror(errno)))")
            }
            data.append(contentsOf: buffer[0..<n])
        }
        return try Self.parse(data)
    }

    static func parse(_ data: [UInt8]) throws -> HTTPReply {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, data.count - 3)).first(where: { Array(data[$0..<$0 + 4]) == separator }) else {
            throw ClientError(description: "malformed HTTP response (no header end)")
        }
        let lines = String(decoding: data[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw ClientError(description: "malformed HTTP status line")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(data[(end + 4)...])
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            body = try dechunk(body)
        } else if let length = headers["content-length"].flatMap(Int.init), length < body.count {
            body = Array(body[..<length])
        }
        return HTTPReply(status: status, headers: headers, body: body)
    }

    static func dechunk(_ data: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = [], i = 0
        while i < data.count {
            guard let lineEnd = (i..<max(i, data.count - 1)).first(where: { data[$0] == 13 && data[$0 + 1] == 10 }),
                  let size = Int(String(decoding: data[i..<lineEnd], as: UTF8.self).split(separator: ";")[0]
                                    .trimmingCharacters(in: .whitespaces), radix: 16)
            else { throw ClientError(description: "malformed chunked body") }
            if size == 0 { break }
            let start = lineEnd + 2
            guard start + size <= data.count else { throw ClientError(description: "truncated chunked body") }
            out += data[start..<start + size]
            i = start + size + 2
        }
        return out
    }

    private func connect(timeout: Double) throws -> Int32 {
        switch endpoint {
        case .unix(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw ClientError(description: "socket: \(String(cString: strerror(errno)))") }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
                close(fd)
                throw ClientError(description: "socket path too long: \(path)")
            }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, b) in bytes.enumerated() { raw[i] = b }
            }
            setTimeouts(fd, timeout)
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else {
                let message = String(cString: strerror(errno))
                close(fd)
                throw ClientError(description: "cannot connect to \(display): \(message) (is vireo-gpu running with --http unix:\(path)?)")
            }
            return fd
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_family = AF_UNSPEC
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
                throw ClientError(description: "cannot resolve \(host)")
            }
            defer { freeaddrinfo(list) }
            var lastError = "no address"
            var cursor: UnsafeMutablePointer<addrinfo>? = first
            while let ai = cursor {
                cursor = ai.pointee.ai_next
                let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
                if fd < 0 { continue }
                setTimeouts(fd, timeout)
                if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { return fd }
                lastError = String(cString: strerror(errno))
                close(fd)
            }
            throw ClientError(description: "cannot connect to \(display): \(lastError) (is vireo-gpu running with --http?)")
        }
    }

    private func setTimeouts(_ fd: Int32, _ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE || errno == ECONNRESET { return }   // the server answered early (413, 401): read it
                throw ClientError(description: "sending to \(display): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }
}
