// RawRFBClient: a minimal RFB 3.8 client over a plain socket, for messages real clients never send, for reading
// exactly what the server answers, and for measuring (bytes read). Pixels stay in the server's format (R, G, B, X
// bytes). Used by the VNC tests and vnc-bench; no dependency on Vireo's modules.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct RFBError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

public final class RawRFBClient: @unchecked Sendable {
    // Sendable: a test hands a client to one reader thread and does not touch it meanwhile.
    public let fd: Int32
    public private(set) var width = 0
    public private(set) var height = 0
    /// Every byte received so far (handshake included).
    public private(set) var bytesRead = 0
    /// The server's pixel format from ServerInit (16 bytes: bpp, depth, big-endian, true colour, maxima, shifts).
    public private(set) var pixelFormat: [UInt8] = []
    /// Reused for pixel data `readUpdate(visiting:)` hands out, so reading a stream of frames allocates nothing.
    private var scratch: [UInt8] = []

    /// Connects to host:port (an IPv4 address); reads time out after `timeout` seconds.
    public init(host: String = "127.0.0.1", port: Int, timeout: TimeInterval = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RFBError(description: "socket") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr(host)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(fd); throw RFBError(description: "connect: \(String(cString: strerror(errno)))") }
        setTimeout(timeout)
    }

    deinit { close(fd) }

    public func setTimeout(_ seconds: TimeInterval) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// A small receive buffer, so a client that stops reading stalls the server's sends soon.
    public func shrinkReceiveBuffer() {
        var size: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    public func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw RFBError(description: "send: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    public func read(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            if n < 0 && errno == EINTR { continue }
            if n == 0 { throw RFBError(description: "closed by the server after \(got) of \(count) bytes") }
            if n < 0 { throw RFBError(description: "recv: \(String(cString: strerror(errno)))") }
            got += n
        }
        bytesRead += count
        return out
    }

    func u16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }
    func u32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    /// True when the server closes the connection within `timeout` (what it sends meanwhile is discarded).
    public func closedByServer(within timeout: TimeInterval) -> Bool {
        let deadline = Date() + timeout
        setTimeout(0.2)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return true }
        }
        return false
    }

    /// Version, security (None, or VNC authentication through `respond`), ClientInit, ServerInit.
    /// Returns false when the server refused the password.
    /// `respond` turns the server's 16-byte challenge into the response (VNC authentication).
    @discardableResult
    public func handshake(respond: (([UInt8]) throws -> [UInt8])? = nil) throws -> Bool {
        let version = try read(12)
        guard version.starts(with: Array("RFB ".utf8)) else { throw RFBError(description: "no RFB greeting") }
        try send(Array("RFB 003.008\n".utf8))
        let count = Int(try read(1)[0])
        guard count > 0 else { throw RFBError(description: "no security types") }
        let types = try read(count)
        if let respond {
            guard types.contains(2) else { throw RFBError(description: "no VNC authentication offered: \(types)") }
            try send([2])
            try send(try respond(try read(16)))
        } else {
            guard types.contains(1) else { throw RFBError(description: "no None security: \(types)") }
            try send([1])
        }
        let result = try read(4)
        if u32(result, 0) != 0 { return false }
        try send([1])   // shared
        let initMessage = try read(24)
        width = u16(initMessage, 0)
        height = u16(initMessage, 2)
        pixelFormat = Array(initMessage[4..<20])
        _ = try read(Int(u32(initMessage, 20)))
        return true
    }

    public func setEncodings(_ encodings: [Int32]) throws {
        var m: [UInt8] = [2, 0, UInt8(encodings.count >> 8), UInt8(encodings.count & 0xff)]
        for e in encodings { m += withUnsafeBytes(of: UInt32(bitPattern: e).bigEndian, Array.init) }
        try send(m)
    }

    public func requestUpdate(incremental: Bool) throws {
        try send([3, incremental ? 1 : 0, 0, 0, 0, 0, UInt8(width >> 8), UInt8(width & 0xff), UInt8(height >> 8),
                  UInt8(height & 0xff)])
    }

    public struct UpdateRect: Sendable {
        public var x, y, width, height: Int
        public var encoding: Int32
        public var payload: [UInt8]
    }

    /// Reads one FramebufferUpdate (Raw, and the pseudo-rects this suite asks for), skipping other messages.
    public func readUpdate() throws -> [UpdateRect] {
        while true {
            let type = try read(1)[0]
            switch type {
            case 0:
                let header = try read(3)
                let n = u16(header, 1)
                var rects: [UpdateRect] = []
                for _ in 0..<n {
                    let r = try read(12)
                    let x = u16(r, 0), y = u16(r, 2), w = u16(r, 4), h = u16(r, 6)
                    let encoding = Int32(bitPattern: u32(r, 8))
                    var payload: [UInt8] = []
                    switch encoding {
                    case 0: payload = try read(w * h * 4)
                    case 6, 16: _ = try read(Int(u32(try read(4), 0)))              // Zlib, ZRLE: skipped, counted
                    case -239: payload = try read(w * h * 4 + (w + 7) / 8 * h)   // rich cursor: pixels + mask
                    case -314:                                                    // cursor with alpha: Raw only here
                        let inner = Int32(bitPattern: u32(try read(4), 0))
                        guard inner == 0 else { throw RFBError(description: "cursor with alpha in encoding \(inner)") }
                        payload = try read(w * h * 4)                             // B,G,R,A (premultiplied)
                    case -223: width = w; height = h                              // DesktopSize
                    case -308:                                                    // ExtendedDesktopSize
                        width = w; height = h
                        let screens = Int(try read(4)[0])
                        payload = try read(16 * screens)
                    case -232, -258, -224: break                                  // pointer pos, QEMU key ack, LastRect
                    default: throw RFBError(description: "unexpected encoding \(encoding)")
                    }
                    rects.append(UpdateRect(x: x, y: y, width: w, height: h, encoding: encoding, payload: payload))
                }
                return rects
            case 2: continue                         // Bell
            case 3: _ = try read(3); let len = Int(u32(try read(4), 0)); _ = try read(len)   // ServerCutText
            default: throw RFBError(description: "unexpected server message \(type)")
            }
        }
    }

    /// A rectangle header of `readUpdate(visiting:)`.
    public struct RectHeader: Sendable {
        public var x, y, width, height: Int
        public var encoding: Int32
    }

    /// Reads one FramebufferUpdate for measuring: Raw pixels are read into a reused buffer and shown to `visit`
    /// (valid only during the call), Zlib and ZRLE data are skipped by length (nil). Other messages are skipped.
    public func readUpdate(visiting visit: (RectHeader, UnsafeRawBufferPointer?) throws -> Void) throws {
        while true {
            let type = try read(1)[0]
            switch type {
            case 0:
                let n = u16(try read(3), 1)
                for _ in 0..<n {
                    let r = try read(12)
                    let header = RectHeader(x: u16(r, 0), y: u16(r, 2), width: u16(r, 4), height: u16(r, 6),
                                            encoding: Int32(bitPattern: u32(r, 8)))
                    switch header.encoding {
                    case 0:
                        let count = header.width * header.height * Int(pixelFormat[0] / 8)
                        if scratch.count < count { scratch = [UInt8](repeating: 0, count: count) }
                        try scratch.withUnsafeMutableBytes { buffer in
                            try readFully(buffer.baseAddress!, count)
                            try visit(header, UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                        }
                    case 6, 16:
                        let count = Int(u32(try read(4), 0))
                        if scratch.count < count { scratch = [UInt8](repeating: 0, count: count) }
                        try scratch.withUnsafeMutableBytes { try readFully($0.baseAddress!, count) }
                        try visit(header, nil)
                    case -224: try visit(header, nil)                          // LastRect
                    default: throw RFBError(description: "unexpected encoding \(header.encoding)")
                    }
                }
                return
            case 2: continue                         // Bell
            case 3: _ = try read(3); let len = Int(u32(try read(4), 0)); _ = try read(len)   // ServerCutText
            default: throw RFBError(description: "unexpected server message \(type)")
            }
        }
    }

    private func readFully(_ to: UnsafeMutableRawPointer, _ count: Int) throws {
        var got = 0
        while got < count {
            let n = recv(fd, to + got, count - got, 0)
            if n < 0 && errno == EINTR { continue }
            if n == 0 { throw RFBError(description: "closed by the server after \(got) of \(count) bytes") }
            if n < 0 { throw RFBError(description: "recv: \(String(cString: strerror(errno)))") }
            got += n
        }
        bytesRead += count
    }

    /// Paints the Raw rectangles of an update into `picture` (R,G,B,X, width x height).
    public func apply(_ rects: [UpdateRect], to picture: inout [UInt8]) {
        for rect in rects where rect.encoding == 0 {
            for row in 0..<rect.height {
                let to = ((rect.y + row) * width + rect.x) * 4
                picture.replaceSubrange(to..<to + rect.width * 4,
                                        with: rect.payload[row * rect.width * 4..<(row + 1) * rect.width * 4])
            }
        }
    }

    /// Requests and reads updates until the picture (R,G,B,X bytes, width x height) is complete once.
    public func readPicture() throws -> [UInt8] {
        var picture = [UInt8](repeating: 0, count: width * height * 4)
        try requestUpdate(incremental: false)
        for rect in try readUpdate() where rect.encoding == 0 {
            for row in 0..<rect.height {
                let to = ((rect.y + row) * width + rect.x) * 4
                picture.replaceSubrange(to..<to + rect.width * 4,
                                        with: rect.payload[row * rect.width * 4..<(row + 1) * rect.width * 4])
            }
        }
        return picture
    }
}

