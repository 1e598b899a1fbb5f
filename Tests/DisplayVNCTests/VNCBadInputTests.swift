// Bad input from VNC clients: malformed messages, wrong passwords, floods of connections and clients that never
// read. The offender is dropped with a logged reason; other viewers keep their picture; the guest's flushes
// stay fast. Bounds are loose: the suite runs on a loaded 2-core machine.
import Display
@testable import DisplayVNC
import Foundation
import RFBTestClient
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// libvncserver's own lines while a test runs (suites run in parallel: each test has its own registration).
final class LibraryLines: Sendable {
    let lines = Mutex<[String]>([])
    private let id = Int.random(in: 0...Int.max)
    init() { LibVNCLog.observers.withLock { $0[id] = { [self] line in lines.withLock { $0.append(line) } } } }
    func stop() { LibVNCLog.observers.withLock { $0[id] = nil } }
    func contains(_ text: String) -> Bool { lines.withLock { $0.contains { $0.contains(text) } } }
}

extension VNCTests {
    @Suite("VNC bad input", .serialized)
    struct VNCBadInputTests {
        @Test("Malformed RFB messages: each offender is dropped with a logged reason; a viewer keeps its picture")
        func malformedMessages() throws {
            let library = LibraryLines()
            defer { library.stop() }
            let fixture = try VNCFixture { $0.clientTimeoutMilliseconds = 2000 }
            var pixels = testPattern(width: 64, height: 48)
            fixture.show(pixels, width: 64, height: 48)
            let witness = try rawViewer(fixture, firstPicture: pixels)

            let offences: [(String, [UInt8], String)] = [
                ("SetPixelFormat with 7 bits per pixel", [0, 0, 0, 0, 7, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0], "bpp"),
                ("ClientCutText of 2 GiB", [6, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff], "too big"),
                ("an unknown message type", [77, 1, 2, 3], "unknown message type 77"),
                ("a QEMU message before the extended key event was offered", [255, 0, 0, 0], "unknown message type 255"),
                ("a QEMU message other than the extended key event", [2, 0, 0, 1, 0xff, 0xff, 0xfe, 0xfe, 255, 1, 0, 0], "subtype 1"),
                ("SetEncodings announcing 1000 encodings, sending 2, then silence", [2, 0, 0x03, 0xe8, 0, 0, 0, 0, 0, 0, 0, 1], ""),
                ("half a FramebufferUpdateRequest, then silence", [3, 0, 0, 0, 0], ""),
            ]
            for (name, bytes, reason) in offences {
                let offender = try RawRFBClient(port: fixture.ports[0])
                try offender.handshake()
                try offender.send(bytes)
                #expect(offender.closedByServer(within: 20), "\(name): still connected")
                if !reason.isEmpty { #expect(library.contains(reason), "\(name): no log line with '\(reason)'") }
            }
            // The witness still gets the guest's newest picture.
            for i in stride(from: 0, to: pixels.count, by: 4) { pixels[i] = 0x55 }
            fixture.flush(pixels, Rect(x: 0, y: 0, width: 64, height: 48))
            #expect(try witness.readPicture() == rgbx(fromBGRX: pixels))
        }

        @Test("Wrong passwords are refused, logged and slowed down per address; the right one still gets in")
        func wrongPasswords() throws {
            let fixture = try VNCFixture(password: "s3cret!") {
                $0.passwordThrottle.firstDelay = 0.4
                $0.passwordThrottle.maxDelay = 1.6
            }
            fixture.show(testPattern(width: 64, height: 48), width: 64, height: 48)
            var durations: [TimeInterval] = []
            for guess in ["wrong", "guess2", "guess3", "guess4"] {
                let started = Date()
                let client = try RawRFBClient(port: fixture.ports[0])
                #expect(try client.handshake(password: guess) == false)
                durations.append(Date().timeIntervalSince(started))
            }
            // Delays before the 2nd, 3rd and 4th check: 0.4, 0.8, 1.6 s (at least; the machine may add more).
            #expect(durations[1] >= 0.35 && durations[2] >= 0.7 && durations[3] >= 1.4, "\(durations)")
            #expect(fixture.log.contains("wrong password"))
            // Parallel guesses from the same address are spaced out too, not checked at once.
            let started = Date()
            let finished = Mutex<[TimeInterval]>([])
            let threads = (0..<3).map { _ in
                Thread {
                    if let client = try? RawRFBClient(port: fixture.ports[0]) { _ = try? client.handshake(password: "nope") }
                    finished.withLock { $0.append(Date().timeIntervalSince(started)) }
                }
            }
            threads.forEach { $0.start() }
            while finished.withLock({ $0.count }) < 3 && Date().timeIntervalSince(started) < 60 { usleep(20_000) }
            let parallel = finished.withLock { $0.sorted() }
            #expect(parallel.count == 3 && parallel[2] >= 3.0, "\(parallel)")   // at least 1.6 + 1.6 apart
            // The right password works (after the current delay), and clears the record.
            // (That the success clears the delay is PasswordThrottleTests' business: a timing bound here would be flaky.)
            let viewer = try RawRFBClient(port: fixture.ports[0], timeout: 30)
            #expect(try viewer.handshake(password: "s3cret!"))
        }

        @Test("Hundreds of silent connections: the excess is closed at once, the rest at the handshake deadline; viewers keep their picture")
        func connectionFlood() throws {
            let fixture = try VNCFixture { $0.clientTimeoutMilliseconds = 3000; $0.maxClients = 32 }
            var pixels = testPattern(width: 64, height: 48)
            fixture.show(pixels, width: 64, height: 48)
            let witness = try rawViewer(fixture, firstPicture: pixels)

            var flood: [RawRFBClient] = []
            // 200: the test process shares its descriptors with the suites running beside it.
            for _ in 0..<200 { if let c = try? RawRFBClient(port: fixture.ports[0]) { flood.append(c) } }
            #expect(flood.count >= 190, "\(flood.count) connections made")
            for i in stride(from: 0, to: pixels.count, by: 4) { pixels[i + 1] = 0x99 }
            fixture.flush(pixels, Rect(x: 0, y: 0, width: 64, height: 48))
            #expect(try witness.readPicture() == rgbx(fromBGRX: pixels), "the witness during the flood")
            // Silent connections are closed: the excess at once, the rest at the client timeout.
            var open = flood
            let closing = Date() + 15
            while open.count > flood.count - 150 && Date() < closing {
                open = open.filter { !$0.closedByServer(within: 0.01) }
            }
            #expect(flood.count - open.count >= 150, "\(flood.count - open.count) of \(flood.count) closed")
            // The admitted ones stay silent, sockets open: they are dropped at the handshake deadline (3 s here).
            let deadline = Date() + 20
            while fixture.servers[0].clientsConnected > 1 && Date() < deadline { usleep(50_000) }
            #expect(fixture.servers[0].clientsConnected == 1)
            #expect(open.allSatisfy { $0.closedByServer(within: 0.5) })
            flood.removeAll()
            open.removeAll()
            let late = try RawRFBClient(port: fixture.ports[0])
            try late.handshake()
            try late.setEncodings([0])
            #expect(try late.readPicture() == rgbx(fromBGRX: pixels), "a viewer after the flood")
        }

        @Test("A client that never reads is dropped; the guest's flushes and the other viewers are not held up")
        func neverReadingClient() throws {
            let library = LibraryLines()
            defer { library.stop() }
            let width = 1024, height = 768
            let fixture = try VNCFixture { $0.clientTimeoutMilliseconds = 2000 }
            let frames = (0..<4).map { _ in noise(count: width * height * 4) }
            fixture.show(frames[0], width: width, height: height)
            let witness = try RawRFBClient(port: fixture.ports[0], timeout: 30)
            try witness.handshake()
            try witness.setEncodings([0])
            #expect(try witness.readPicture() == rgbx(fromBGRX: frames[0]))

            let stalled = try RawRFBClient(port: fixture.ports[0])
            stalled.shrinkReceiveBuffer()
            try stalled.handshake()
            try stalled.setEncodings([0])   // raw: 3 MiB per frame, far more than the socket buffers hold
            try stalled.requestUpdate(incremental: false)

            // The guest keeps flushing whole noisy frames; each flush returns promptly.
            var slowest: TimeInterval = 0
            let full = Rect(x: 0, y: 0, width: UInt32(width), height: UInt32(height))
            for round in 0..<20 {
                let frame = frames[round % frames.count]
                let started = Date()
                fixture.displays.update(0, damage: full) { buffer, _ in frame.withUnsafeBytes { buffer.copyMemory(from: $0) } }
                slowest = max(slowest, Date().timeIntervalSince(started))
                // It keeps asking (the server's reads of its requests never block), so the server has more to send.
                try stalled.requestUpdate(incremental: false)
                usleep(20_000)
            }
            fixture.waitMirrored()
            #expect(slowest < 1.0, "slowest flush \(slowest) s")
            // The witness gets the newest frame while the stalled client is still stuck.
            #expect(try witness.readPicture() == rgbx(fromBGRX: frames[19 % frames.count]))
            // The stalled client is dropped once its writes made no progress for the client timeout (libvncserver
            // checks every 5 s), with a reason in the log.
            let deadline = Date() + 30
            while fixture.servers[0].clientsConnected > 1 && Date() < deadline { usleep(100_000) }
            #expect(fixture.servers[0].clientsConnected == 1, "the stalled client is still connected")
            #expect(fixture.log.contains("left scanout 0"))
            #expect(library.lines.withLock { $0.contains { $0.lowercased().contains("timeout") || $0.lowercased().contains("timed out") || $0.contains("write") } },
                    "\(library.lines.withLock { $0.suffix(10) })")
            // And the witness is still served.
            var last = frames[1]
            for i in stride(from: 0, to: 4096, by: 4) { last[i] = 0x11 }
            fixture.flush(last, full)
            #expect(try witness.readPicture() == rgbx(fromBGRX: last))
        }
    }
}

/// Incompressible pixels (random bytes from the kernel).
func noise(count: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    let fd = open("/dev/urandom", O_RDONLY)
    defer { close(fd) }
    var got = 0
    while got < count {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, count - got) }
        if n <= 0 { break }
        got += n
    }
    return bytes
}
