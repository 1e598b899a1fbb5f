// The virtio-input device over real sockets: a test driver plays QEMU's vhost-user-input-pci (whole-config
// GET_CONFIG/SET_CONFIG, queues of 4 like QEMU's) and the guest's virtio_input driver (eventq buffers of one event,
// reposted as they are used; statusq LED events), while the test types through the server's InputSink as the VNC
// exporter would. Without an input device the sink drops events and logs that once.
import Display
import Foundation
import Glibc
import Logging
import Synchronization
import Testing
import VhostUser
import VireoServer
import VireoSystem
import VireoTestSupport
import VirtioInput
import Wire

/// Log lines (level, message) kept for inspection.
final class InputLogLines: Sendable {
    let lines = Mutex<[(Logger.Level, String)]>([])
    var all: [(Logger.Level, String)] { lines.withLock { $0 } }
    var logger: Logger { Logger(label: "vireo-test", factory: { _ in Handler(sink: self) }) }

    struct Handler: LogHandler {
        let sink: InputLogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] } set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { sink.lines.withLock { $0.append((event.level, event.message.description)) } }
    }
}

/// QEMU's frontend and the guest's virtio_input driver on one input connection.
final class InputRig: @unchecked Sendable {
    let ram: GuestRAM
    /// The in-process server and its port (nil when the rig drives another process's socket).
    let port: InputPort!
    let server: GPUServer!
    let frontend: VhostUserFrontend
    let eventq: GuestRing
    let statusq: GuestRing
    /// Where each eventq descriptor head's buffer is.
    private var buffers: [UInt32: UInt64] = [:]

    /// An in-process GPUServer with an InputPort, served over a socket pair.
    convenience init(setup: Bool = true, logs: InputLogLines = InputLogLines()) throws {
        let port = try InputPort(logger: logs.logger)
        let server = GPUServer(config: ServerConfig(), logger: logs.logger, input: port)
        let (ours, theirs) = try UnixSocket.pair()
        Thread { server.serveInput(socket: theirs) }.start()
        try self.init(socket: ours, server: server, port: port, setup: setup)
    }

    /// A vireo-gpu process's input socket at `path` (retried until it listens).
    convenience init(connectingTo path: String, timeout: TimeInterval = 10) throws {
        let deadline = Date() + timeout
        var socket: OwnedFD?
        while socket == nil {
            do { socket = try UnixSocket.connect(path: path) } catch {
                if Date() >= deadline { throw error }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        try self.init(socket: socket!, server: nil, port: nil, setup: true)
    }

    private init(socket: OwnedFD, server: GPUServer?, port: InputPort?, setup: Bool) throws {
        ram = try GuestRAM()
        self.server = server
        self.port = port
        frontend = VhostUserFrontend(socket: socket)
        eventq = try GuestRing(ram: ram, size: 4)    // QEMU's vhost-user-input uses queues of 4
        statusq = try GuestRing(ram: ram, size: 4)
        if setup {
            try frontend.negotiate()
            try frontend.setMemTable(ram)
            try frontend.setupRing(0, eventq, ram: ram)
            try frontend.setupRing(1, statusq, ram: ram)
        }
    }

    /// The driver fills the eventq (one 8-byte buffer per event, as Linux does).
    func postEventBuffers(_ count: Int, size: UInt32 = 8) {
        for _ in 0..<count {
            let at = ram.allocate(UInt64(size), align: 8)
            post(at, size: size)
        }
        eventq.notify()
    }

    private func post(_ at: UInt64, size: UInt32 = 8) {
        ram.write([UInt8](repeating: 0xee, count: Int(size)), at: at)
        let head = eventq.addChain([.init(address: at, length: size, writable: true)])
        buffers[UInt32(head)] = at
        eventq.publish(head)
    }

    /// Reads `count` events as the driver does: each used buffer is read and posted again.
    func events(_ count: Int, timeout: TimeInterval = 5) -> [VirtioInputEvent] {
        var out: [VirtioInputEvent] = []
        while out.count < count, let used = eventq.waitUsed(timeout: timeout), let at = buffers[used.id] {
            var r = WireReader(ram.read(Int(used.length), at: at))
            if let e = try? VirtioInputEvent(from: &r) { out.append(e) }
            post(at)
            eventq.notify()
        }
        return out
    }

    /// Sends one statusq buffer; true when it came back used.
    func status(_ bytes: [UInt8]) -> Bool {
        let at = ram.allocate(UInt64(max(bytes.count, 1)), align: 8)
        ram.write(bytes, at: at)
        let head = statusq.addChain([.init(address: at, length: UInt32(bytes.count), writable: false)])
        statusq.publish(head)
        statusq.notify()
        return statusq.waitUsed() != nil
    }

    /// QEMU's config access: SET_CONFIG of the whole config with select/subsel, then GET_CONFIG of all of it.
    func config(_ select: UInt8, _ subsel: UInt8) throws -> [UInt8] {
        var whole = try frontend.getConfig(offset: 0, size: 136)
        whole[0] = select; whole[1] = subsel
        _ = try frontend.request(.setConfig, payload: VhostUserConfig(offset: 0, size: 136, flags: 0, payload: whole).encoded)
        let c = try frontend.getConfig(offset: 0, size: 136)
        return Array(c[8..<8 + Int(c[2])])
    }
}

private func key(_ code: UInt16, _ value: UInt32) -> VirtioInputEvent { .key(code, value) }
private let syn = VirtioInputEvent.synReport

@Suite struct InputServerTests {
    @Test("5.8: the input socket offers VERSION_1, CONFIG, 2 queues and the 136-byte virtio_input_config")
    func identity() throws {
        let rig = try InputRig(setup: false)
        let f = rig.frontend
        var r = WireReader(try #require(try f.request(.getFeatures, expectReply: true)))
        let features: UInt64 = try r.read()
        #expect(features & FeatureBit.version1 != 0 && features & FeatureBit.protocolFeatures != 0)
        #expect(features & FeatureBit.accessPlatform == 0)
        try f.negotiate()
        #expect(f.protocolFeatures & VhostUserProtocolFeature.config.mask != 0)
        var q = WireReader(try #require(try f.request(.getQueueNum, expectReply: true)))
        #expect(try q.read(UInt64.self) == 2)
        #expect(try f.getConfig(offset: 0, size: 136).count == 136)
        #expect(String(decoding: try rig.config(0x01, 0), as: UTF8.self) == "Vireo keyboard and tablet")
        #expect(try rig.config(0x12, 0).count == 20)
        #expect(try rig.config(0x77, 3).isEmpty)
        // Outside the config: an empty answer, and the connection lives on.
        #expect(try f.getConfig(offset: 130, size: 16).isEmpty)
        #expect(throws: (any Error).self) {
            try f.request(.setConfig, payload: VhostUserConfig(offset: 200, size: 4, flags: 0, payload: [1, 2, 3, 4]).encoded)
        }
        #expect(try f.getConfig(offset: 0, size: 136).count == 136)
    }

    @Test("keysyms through the InputSink arrive in the guest's eventq, one event per buffer, Shift added for 'A'")
    func keysyms() throws {
        let rig = try InputRig()
        rig.postEventBuffers(4)
        let sink = rig.server.inputSink
        sink.keysym(0x41, down: true); sink.keysym(0x41, down: false)          // 'A': more events than buffers
        #expect(rig.events(6) == [key(42, 1), key(30, 1), syn, key(30, 0), key(42, 0), syn])
        sink.keysym(0xff0d, down: true); sink.keysym(0xff0d, down: false)      // Return
        sink.keysym(0xffbe, down: true); sink.keysym(0xffbe, down: false)      // F1
        #expect(rig.events(8) == [key(28, 1), syn, key(28, 0), syn, key(59, 1), syn, key(59, 0), syn])
    }

    @Test("events queued before the guest posts buffers wait for them; scancodes and clipboard text arrive in order")
    func scancodesAndClipboard() throws {
        let rig = try InputRig()
        let sink = rig.server.inputSink
        sink.scancode(0xe048, keysym: 0xff52, down: true); sink.scancode(0xe048, keysym: 0xff52, down: false)   // Up
        sink.scancode(0x10, keysym: 0x61, down: true); sink.scancode(0x10, keysym: 0x61, down: false)   // AZERTY 'a'
        sink.clipboardText("hi!")
        rig.postEventBuffers(4)
        #expect(rig.events(8) == [key(103, 1), syn, key(103, 0), syn, key(16, 1), syn, key(16, 0), syn])
        #expect(rig.events(14) == [key(35, 1), syn, key(35, 0), syn, key(23, 1), syn, key(23, 0), syn,
                                   key(42, 1), key(2, 1), syn, key(2, 0), key(42, 0), syn])
    }

    @Test("pointer events: ABS_X/ABS_Y scaled to 0...32767, buttons, wheel")
    func pointer() throws {
        let rig = try InputRig()
        rig.postEventBuffers(4)
        let sink = rig.server.inputSink
        sink.pointer(scanout: 0, x: 1279, y: 0, width: 1280, height: 800, buttons: 0b1)
        #expect(rig.events(4) == [VirtioInputEvent(type: 3, code: 0, value: 32767), VirtioInputEvent(type: 3, code: 1, value: 0),
                                  key(0x110, 1), syn])
        sink.pointer(scanout: 0, x: 640, y: 400, width: 1281, height: 801, buttons: 0b1000)
        #expect(rig.events(5) == [VirtioInputEvent(type: 3, code: 0, value: 16383), VirtioInputEvent(type: 3, code: 1, value: 16383),
                                  key(0x110, 0), VirtioInputEvent(type: 2, code: 8, value: 1), syn])
    }

    @Test("statusq: LED events are taken; bad buffers (short, unknown, too large) come back and nothing stops")
    func statusq() throws {
        let rig = try InputRig()
        #expect(rig.status(VirtioInputEvent(type: 0x11, code: 1, value: 1).encoded))
        #expect(rig.port.device.statistics.leds == 0b10)
        #expect(rig.status([1, 2, 3]))
        #expect(rig.status(VirtioInputEvent(type: 1, code: 30, value: 1).encoded))
        #expect(rig.status([UInt8](repeating: 0x11, count: 8192)))
        #expect(rig.port.device.statistics.badStatusBuffers == 2)
        rig.postEventBuffers(4)
        rig.server.inputSink.keysym(0x7a, down: true)
        #expect(rig.events(2) == [key(44, 1), syn])
    }

    @Test("bad input: eventq buffers too small or device-readable come back empty; events wait for a good one")
    func badEventBuffers() throws {
        let rig = try InputRig()
        rig.postEventBuffers(1, size: 4)
        rig.server.inputSink.keysym(0x78, down: true)
        let used = try #require(rig.eventq.waitUsed())
        #expect(used.length == 0)
        rig.postEventBuffers(4)
        #expect(rig.events(2) == [key(45, 1), syn])
    }

    @Test("the connection's end resets the device: keys held are forgotten; events while disconnected are dropped, logged once")
    func disconnect() throws {
        let logs = InputLogLines()
        let rig = try InputRig(logs: logs)
        #expect(rig.port.isConnected)
        rig.server.inputSink.keysym(0x61, down: true)
        _ = Glibc.shutdown(rig.frontend.channel.socket.rawValue, Int32(SHUT_RDWR))
        let deadline = Date() + 5
        while rig.port.isConnected, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(!rig.port.isConnected)
        #expect(!rig.port.device.hasPendingEvents)
        for _ in 0..<50 { rig.server.inputSink.keysym(0x61, down: false) }
        rig.server.inputSink.pointer(scanout: 0, x: 1, y: 1, width: 10, height: 10, buttons: 0)
        #expect(rig.port.droppedWhileDisconnected == 51)
        #expect(logs.all.count { $0.1.contains("no input device connected") } == 1)
    }

    @Test("POST /v1/input/keys: keysyms and text reach the guest's eventq; bad bodies are 400, no device 503")
    func httpKeys() async throws {
        let rig = try InputRig()
        rig.postEventBuffers(4)
        try await withAPI({ nil }, input: rig.port) { api in
            let ok = try await request(api, "POST", "/v1/input/keys", body: Array(#"{"keysyms":[65307],"text":"1"}"#.utf8))
            #expect(ok.status == 200)
            #expect(ok.json?["keysyms"] as? Int == 1 && ok.json?["characters"] as? Int == 1)
            #expect(await onOwnThread { rig.events(8) } == [key(1, 1), syn, key(1, 0), syn, key(2, 1), syn, key(2, 0), syn])
            for body in ["{}", #"{"keysyms":[-1]}"#, #"{"keysyms":"a"}"#, "[]", ""] {
                #expect(try await request(api, "POST", "/v1/input/keys", body: Array(body.utf8)).status == 400, "\(body)")
            }
            let many = "{\"keysyms\":[" + Array(repeating: "97", count: 1025).joined(separator: ",") + "]}"
            #expect(try await request(api, "POST", "/v1/input/keys", body: Array(many.utf8)).status == 400)
        }
        _ = Glibc.shutdown(rig.frontend.channel.socket.rawValue, Int32(SHUT_RDWR))
        let deadline = Date() + 5
        while rig.port.isConnected, Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        try await withAPI({ nil }, input: rig.port) { api in
            let reply = try await request(api, "POST", "/v1/input/keys", body: Array(#"{"text":"a"}"#.utf8))
            #expect(reply.status == 503 && reply.error.contains("connected"))
        }
    }

    @Test("vireo-gpu --input-socket: a frontend on that socket gets keys typed over HTTP; the socket goes at exit")
    func process() async throws {
        let bin = try productsDirectory().appendingPathComponent("vireo-gpu").path
        let dir = NSTemporaryDirectory() + "vireo-input-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Refused: the input socket must be a socket of its own.
        let same = try run(bin, ["--socket-path", dir + "/gpu.sock", "--input-socket", dir + "/gpu.sock"])
        #expect(same.status != 0 && same.stderr.contains("--input-socket"))
        let port = freePort()
        let pid = try spawnChild(bin, ["--socket-path", dir + "/gpu.sock", "--input-socket", dir + "/input.sock",
                                  "--http", "127.0.0.1:\(port)", "--log-level", "warning"], stderr: dir + "/vireo-gpu.log")
        defer { if kill(pid, 0) == 0 { kill(pid, SIGKILL); _ = waitExit(pid, timeout: 5) } }
        let rig = try InputRig(connectingTo: dir + "/input.sock")
        rig.postEventBuffers(4)
        let reply = try await request(.tcp(port: port), "POST", "/v1/input/keys", body: Array(#"{"text":"ok"}"#.utf8))
        #expect(reply.status == 200)
        #expect(await onOwnThread { rig.events(8) } == [key(24, 1), syn, key(24, 0), syn, key(37, 1), syn, key(37, 0), syn])
        kill(pid, SIGTERM)
        #expect(waitExit(pid, timeout: 10) == 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/input.sock"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/gpu.sock"))
    }

    @Test("without an input device the server's sink drops every event and logs that once")
    func noDevice() throws {
        let logs = InputLogLines()
        let server = GPUServer(config: ServerConfig(), logger: logs.logger)
        #expect(server.input == nil)
        let sink = server.inputSink
        sink.keysym(0x61, down: true)
        sink.scancode(0x1e, keysym: 0x61, down: false)
        sink.pointer(scanout: 0, x: 5, y: 5, width: 100, height: 100, buttons: 1)
        sink.clipboardText("hello")
        #expect((sink as? DroppingInputSink)?.dropped == 4)
        let lines = logs.all.filter { $0.1.contains("no input device") }
        #expect(lines.count == 1)
        #expect(lines.first?.0 == .notice)
    }
}
