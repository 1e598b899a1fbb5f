// Test support for the VNC exporter: a VNCServer on a private DisplaySet, external clients run as processes, and a
// raw RFB client for what real clients never send.
import Display
import DisplayPNG
@testable import DisplayVNC
import Foundation
import RFBTestClient
import VireoTestSupport
import Logging
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The VNC suites with servers and client programs run one after another (not beside each other): they are
/// CPU-heavy, and the rest of the package's tests run in parallel with them on a 2-core machine.
@Suite("VNC export", .serialized) enum VNCTests {}

/// Records what viewers typed and clicked.
final class RecordingInput: InputSink {
    let events = Mutex<[String]>([])
    func keysym(_ keysym: UInt32, down: Bool) { events.withLock { $0.append("key \(String(keysym, radix: 16)) \(down)") } }
    func scancode(_ scancode: UInt32, keysym: UInt32, down: Bool) {
        events.withLock { $0.append("scancode \(String(scancode, radix: 16)) \(String(keysym, radix: 16)) \(down)") }
    }
    func pointer(scanout: Int, x: Int, y: Int, width: Int, height: Int, buttons: UInt8) {
        events.withLock { $0.append("pointer \(scanout) \(x),\(y) in \(width)x\(height) buttons \(buttons)") }
    }
    func clipboardText(_ text: String) { events.withLock { $0.append("clipboard \(text)") } }
    var all: [String] { events.withLock { $0 } }
}

/// Collects log lines of the exporter and of libvncserver.
final class LogLines: @unchecked Sendable, LogHandler {
    // Sendable: the lines are behind a Mutex; metadata and level are set once before use.
    let lines = Mutex<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? { get { metadata[key] } set { metadata[key] = newValue } }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
             function: String, line: UInt) {
        lines.withLock { $0.append("\(message)") }
    }
    func contains(_ text: String) -> Bool { lines.withLock { $0.contains { $0.contains(text) } } }
    var all: [String] { lines.withLock { $0 } }
}


/// The DisplaySet the servers follow (nil: no guest).
final class DisplayBox: Sendable {
    private let value: Mutex<DisplaySet?>
    init(_ displays: DisplaySet?) { value = Mutex(displays) }
    var current: DisplaySet? { value.withLock { $0 } }
    func set(_ displays: DisplaySet?) { value.withLock { $0 = displays } }
}

/// A VNC server for scanouts of a DisplaySet the test plays the GPU for.
final class VNCFixture: @unchecked Sendable {
    // Sendable: one test drives it.
    let displays: DisplaySet
    let source: DisplayBox
    let input = RecordingInput()
    let log = LogLines()
    var servers: [VNCServer] = []
    var ports: [Int] = []

    init(scanouts: Int = 1, password: String? = nil, guest: Bool = true, websocket: Bool = false,
         configure: (inout VNCConfiguration) -> Void = { _ in }, resizeRequest: VNCResizeRequest? = nil) throws {
        displays = DisplaySet(modes: Array(repeating: DisplayMode(enabled: true, width: 64, height: 48), count: scanouts))
        source = DisplayBox(guest ? displays : nil)
        let handler = log
        let logger = Logger(label: "vnc-test") { _ in handler }
        for index in 0..<scanouts {
            let port = freeTCPPorts(1)
            var configuration = VNCConfiguration(host: "127.0.0.1", port: port)
            configuration.password = password
            configuration.blankWidth = 64
            configuration.blankHeight = 48
            if websocket { configuration.websocketPort = freeTCPPorts(1) }
            configure(&configuration)
            let box = source
            let server = try VNCServer(scanout: index, configuration: configuration, input: input, logger: logger,
                                       resizeRequest: resizeRequest, displays: { box.current })
            try server.start()
            servers.append(server)
            ports.append(port)
        }
    }

    deinit { for server in servers { server.stop() } }

    /// The guest shows `pixels` (BGRX, width x height) on `scanout`, as one flush of everything.
    func show(_ pixels: [UInt8], width: Int, height: Int, scanout: Int = 0) {
        displays.enable(scanout, width: UInt32(width), height: UInt32(height))
        flush(pixels, Rect(x: 0, y: 0, width: UInt32(width), height: UInt32(height)), scanout: scanout)
    }

    /// One flush of `rect` (pixels is the whole picture).
    func flush(_ pixels: [UInt8], _ rect: Rect, scanout: Int = 0) {
        displays.update(scanout, damage: rect) { buffer, stride in
            pixels.withUnsafeBytes { buffer.copyMemory(from: $0) }
            _ = stride
        }
        waitMirrored()
    }

    /// Waits until every server's framebuffer has the DisplaySet's latest state (bounded: fails the test after).
    func waitMirrored(timeout: TimeInterval = 10) {
        let target = displays.activity.frames
        let deadline = Date() + timeout
        while Date() < deadline {
            if servers.allSatisfy({ $0.mirroredFrameActivity >= target }) { return }
            usleep(5000)
        }
        Issue.record("the VNC mirror did not catch up with the display in \(timeout) s")
    }
}

/// A BGRX picture with distinct values per pixel (channel swaps and offsets show).
func testPattern(width: Int, height: Int, seed: UInt8 = 0) -> [UInt8] {
    var p = [UInt8](repeating: 0, count: width * height * 4)
    for y in 0..<height {
        for x in 0..<width {
            let i = (y * width + x) * 4
            p[i] = UInt8(truncatingIfNeeded: x &+ Int(seed)); p[i + 1] = UInt8(truncatingIfNeeded: y &* 3)
            p[i + 2] = UInt8(truncatingIfNeeded: (x ^ y) &+ 7); p[i + 3] = 0xff
        }
    }
    return p
}

/// Flat colour bars (for JPEG clients: exact colours survive only on flat areas).
func colourBars(width: Int, height: Int) -> [UInt8] {
    let bars: [[UInt8]] = [[0, 0, 255, 255], [0, 255, 0, 255], [255, 0, 0, 255], [255, 255, 255, 255]]   // BGRX
    var p = [UInt8](repeating: 0, count: width * height * 4)
    for y in 0..<height { for x in 0..<width {
        let i = (y * width + x) * 4
        p.replaceSubrange(i..<i + 4, with: bars[x * bars.count / width])
    } }
    return p
}

/// BGRX -> RGBA with opaque alpha, as a PNG decoder returns it.
func rgba(fromBGRX p: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 255, count: p.count)
    for i in stride(from: 0, to: p.count, by: 4) { out[i] = p[i + 2]; out[i + 1] = p[i + 1]; out[i + 2] = p[i] }
    return out
}

// MARK: processes

struct ToolResult { var status: Int32; var output: String }

/// Runs a tool with a deadline (killed after it), stdout and stderr together.
func runTool(_ path: String, _ arguments: [String], timeout: TimeInterval = 30, environment: [String: String] = [:])
    -> ToolResult {
    let outPath = NSTemporaryDirectory() + "vnc-tool-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
    defer { unlink(outPath) }
    guard let pid = try? spawnChild(path, arguments, environment: environment, stdout: outPath, stderr: outPath) else {
        return ToolResult(status: -1, output: "cannot start \(path)")
    }
    let status = waitExit(pid, timeout: timeout)
    return ToolResult(status: status, output: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "")
}

/// A tool the test needs, or nil after printing why the test is skipped.
func tool(_ path: String, package: String, for test: String) -> String? {
    if FileManager.default.isExecutableFile(atPath: path) { return path }
    print("SKIP \(test): \(path) is missing (Debian package \(package); scripts/install-deps.sh installs it)")
    return nil
}

struct Capture: Equatable, CustomStringConvertible {
    var width: Int
    var height: Int
    var rgba: [UInt8]
    /// Short, for failure messages (the size and the first differing pixel come from `difference`).
    var description: String { "\(width)x\(height) picture" }

    /// nil when equal; otherwise where they first differ.
    func difference(from other: Capture) -> String? {
        guard width == other.width, height == other.height else { return "size \(width)x\(height) vs \(other.width)x\(other.height)" }
        guard let i = rgba.indices.first(where: { $0 < other.rgba.count && rgba[$0] != other.rgba[$0] }) else {
            return rgba.count == other.rgba.count ? nil : "length"
        }
        let pixel = i / 4
        let differing = stride(from: 0, to: rgba.count, by: 4).filter { rgba[$0..<$0 + 4] != other.rgba[$0..<$0 + 4] }.count
        return "\(differing) pixels differ; first at (\(pixel % width), \(pixel / width)): \(Array(rgba[pixel * 4..<pixel * 4 + 4])) vs \(Array(other.rgba[pixel * 4..<pixel * 4 + 4]))"
    }
}

/// Records a short issue when the pictures differ.
func expectSamePicture(_ actual: Capture, _ expected: Capture, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    if let difference = actual.difference(from: expected) {
        Issue.record("\(what): \(difference)", sourceLocation: sourceLocation)
    }
}

/// gvnccapture's picture of 127.0.0.1:port (pixel-exact: it writes PNG).
func gvnccapture(port: Int, password: String? = nil) throws -> Capture {
    let out = NSTemporaryDirectory() + "vnc-capture-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).png"
    defer { unlink(out) }
    let result = runTool("/usr/bin/gvnccapture", ["127.0.0.1:\(port - 5900)", out], timeout: 30)
    guard result.status == 0 else { throw VNCError(description: "gvnccapture failed (\(result.status)): \(result.output)") }
    let image = try PNGDecoder.decodeRGBA([UInt8](try Data(contentsOf: URL(fileURLWithPath: out))), maxPixels: 1 << 24)
    // gvnccapture writes alpha 0 everywhere (an RGB desktop has none): compare colours, with alpha as opaque.
    var colours = image.rgba
    for i in stride(from: 3, to: colours.count, by: 4) { colours[i] = 255 }
    return Capture(width: Int(image.width), height: Int(image.height), rgba: colours)
}

/// A raw viewer (Raw encoding) connected to scanout 0 that has read its first picture, expected to be `pixels`.
func rawViewer(_ fixture: VNCFixture, firstPicture pixels: [UInt8],
               sourceLocation: SourceLocation = #_sourceLocation) throws -> RawRFBClient {
    let viewer = try RawRFBClient(port: fixture.ports[0])
    try viewer.handshake()
    try viewer.setEncodings([0])
    let same = try viewer.readPicture() == rgbx(fromBGRX: pixels)
    #expect(same, "first picture", sourceLocation: sourceLocation)
    return viewer
}
