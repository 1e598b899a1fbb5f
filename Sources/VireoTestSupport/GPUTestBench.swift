// GPUTestBench: a running Vireo GPU server on a real socket with a frontend and guest driver attached: the
// harness that unit and integration tests drive, like QEMU plus a guest kernel would.
import Display
import Foundation
import Glibc
import GuestMemory
import Logging
import VhostUser
import VireoServer
import VireoSystem

public final class GPUTestBench: @unchecked Sendable {
    // Sendable: one test drives it; the server runs on its own thread (or in another process).
    /// The in-process server; nil when the bench drives an external backend process over a socket path.
    public let server: GPUServer?
    public let frontend: VhostUserFrontend
    public let ram: GuestRAM
    public let controlq: GuestRing
    public let cursorq: GuestRing
    public let display: FakeDisplayFrontend?
    private let serverDone: Mutex_<Bool>

    /// Starts a server on one end of a socketpair and sets the device up as QEMU would.
    public convenience init(config: ServerConfig = ServerConfig(), ram: GuestRAM? = nil,
                            sideChannel: FakeDisplayFrontend? = nil, withoutFeatures: UInt64 = 0,
                            withoutProtocolFeatures: UInt64 = 0, setup: Bool = true, indirect: Bool = false,
                            iotlb: IOTLBResponder? = nil, client: ClientContext? = nil,
                            backendRequests: OwnedFD? = nil) throws {
        var logger = Logger(label: "vireo-test")
        logger.logLevel = ProcessInfo.processInfo.environment["VIREO_TEST_LOG"] != nil ? .debug : .critical
        let server = GPUServer(config: config, logger: logger, client: client)
        let (ours, theirs) = try UnixSocket.pair()
        let done = Mutex_(false)
        Thread { server.serve(socket: theirs); done.set(true) }.start()
        try self.init(socket: ours, server: server, serverDone: done, ram: ram, sideChannel: sideChannel,
                      withoutFeatures: withoutFeatures, withoutProtocolFeatures: withoutProtocolFeatures,
                      setup: setup, indirect: indirect, iotlb: iotlb, backendRequests: backendRequests)
    }

    /// Connects to a backend process listening on `socketPath` (vireo-gpu or QEMU's vhost-user-gpu, started with
    /// `--socket-path`), retrying until it listens or `connectTimeout` passes, and sets the device up the same way.
    /// `connectionEnded` is unknown for an external backend and stays false.
    public convenience init(connectingTo socketPath: String, connectTimeout: TimeInterval = 10, ram: GuestRAM? = nil,
                            sideChannel: FakeDisplayFrontend? = nil, withoutFeatures: UInt64 = 0,
                            withoutProtocolFeatures: UInt64 = 0, setup: Bool = true, indirect: Bool = false,
                            backendRequests: OwnedFD? = nil) throws {
        let deadline = Date() + connectTimeout
        var socket: OwnedFD?
        while socket == nil {
            do { socket = try UnixSocket.connect(path: socketPath) } catch {
                if Date() >= deadline { throw error }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        try self.init(socket: socket!, server: nil, serverDone: Mutex_(false), ram: ram, sideChannel: sideChannel,
                      withoutFeatures: withoutFeatures, withoutProtocolFeatures: withoutProtocolFeatures,
                      setup: setup, indirect: indirect, backendRequests: backendRequests)
    }

    private init(socket: OwnedFD, server: GPUServer?, serverDone: Mutex_<Bool>, ram: GuestRAM?,
                 sideChannel: FakeDisplayFrontend?, withoutFeatures: UInt64, withoutProtocolFeatures: UInt64,
                 setup: Bool, indirect: Bool, iotlb: IOTLBResponder? = nil, backendRequests: OwnedFD? = nil) throws {
        self.server = server
        self.serverDone = serverDone
        frontend = VhostUserFrontend(socket: socket)
        self.ram = try ram ?? GuestRAM()
        controlq = try GuestRing(ram: self.ram, size: 64)
        cursorq = try GuestRing(ram: self.ram, size: 16)
        display = sideChannel
        if setup {
            frontend.acceptIOMMUPlatform = iotlb != nil
            try frontend.negotiate(withoutFeatures: withoutFeatures, withoutProtocolFeatures: withoutProtocolFeatures)
            try frontend.setMemTable(self.ram)
            if let iotlb {
                _ = try frontend.request(.setBackendReqFD, fds: [iotlb.backendEnd.duplicate()])
                iotlb.start(frontend: frontend, ram: self.ram)
            } else if let backendRequests {
                // The frontend's end of the backend channel (SET_BACKEND_REQ_FD): the test reads what Vireo sends.
                _ = try frontend.request(.setBackendReqFD, fds: [backendRequests.duplicate()])
            }
            if let sideChannel { _ = try frontend.request(.gpuSetSocket, fds: [sideChannel.backendEnd.duplicate()]) }
            try frontend.setupRing(0, controlq, ram: self.ram)
            try frontend.setupRing(1, cursorq, ram: self.ram)
        }
        self.useIndirect = indirect
    }
    public var useIndirect: Bool

    /// Hangs up like a frontend that exits, and waits for the server to release the connection.
    public func disconnect(timeout: TimeInterval = 5) -> Bool {
        _ = Glibc.shutdown(frontend.channel.socket.rawValue, Int32(SHUT_RDWR))
        return waitConnectionEnded(timeout: timeout)
    }

    /// True once the server's connection ended (closed by either side).
    public var connectionEnded: Bool { serverDone.get() }
    public func waitConnectionEnded(timeout: TimeInterval = 5) -> Bool {
        let deadline = Date() + timeout
        while Date() < deadline { if connectionEnded { return true }; Thread.sleep(forTimeInterval: 0.01) }
        return connectionEnded
    }

    /// Sends one command on `queue` and returns the response bytes (nil on timeout).
    public func submit(_ request: [UInt8], queue: Int = 0, responseSize: Int = 24, splitAt: Int? = nil,
                       timeout: TimeInterval = 5) -> [UInt8]? {
        let ring = queue == 0 ? controlq : cursorq
        let req = ram.allocate(UInt64(max(1, request.count)), align: 8)
        ram.write(request, at: req)
        let resp = ram.allocate(UInt64(max(1, responseSize)), align: 8)
        ram.write([UInt8](repeating: 0xee, count: responseSize), at: resp)
        var buffers: [GuestRing.Buffer]
        if let splitAt, splitAt > 0, splitAt < request.count {
            buffers = [.init(address: req, length: UInt32(splitAt), writable: false),
                       .init(address: req + UInt64(splitAt), length: UInt32(request.count - splitAt), writable: false)]
        } else {
            buffers = [.init(address: req, length: UInt32(request.count), writable: false)]
        }
        if responseSize > 0 { buffers.append(.init(address: resp, length: UInt32(responseSize), writable: true)) }
        let head = ring.addChain(buffers, indirect: useIndirect)
        ring.publish(head)
        ring.notify()
        guard let used = ring.waitUsed(timeout: timeout) else { return nil }
        return ram.read(Int(used.length), at: resp)
    }

    /// Puts `bytes` in guest RAM and returns a backing entry list covering them (split into `pieces`).
    public func backing(_ bytes: [UInt8], pieces: Int = 1, region: Int = 0) -> [(address: UInt64, length: UInt32)] {
        var entries: [(address: UInt64, length: UInt32)] = []
        let per = (bytes.count + pieces - 1) / pieces
        var offset = 0
        while offset < bytes.count {
            let n = min(per, bytes.count - offset)
            let at = ram.allocate(UInt64(n), align: 4096, region: region)
            ram.write(Array(bytes[offset..<offset + n]), at: at)
            entries.append((at, UInt32(n)))
            offset += n
        }
        return entries
    }
}

/// A tiny lock-protected value (test support only).
final class Mutex_<T: Sendable>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ v: T) { value = v }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
}
