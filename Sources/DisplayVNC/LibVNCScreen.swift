// LibVNCScreen: the one owner of a libvncserver screen (rfbScreenInfo) and its framebuffer. The VNC exporter's
// pointers and C calls are here, in VNCSession's hooks and in CVNCServer; VNCServer above deals in Rects and bytes.
import CVNCServer
import Display
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct VNCError: Error, CustomStringConvertible {
    public var description: String
}

final class LibVNCScreen: @unchecked Sendable {
    // Sendable: the screen's fields are set before `start()`; afterwards the framebuffer and size are changed only
    // by the exporter's pump thread, and libvncserver's threads lock what they share with it (send and cursor
    // locks, taken inside rfbNewFramebuffer and around framebuffer writes).
    private let screen: rfbScreenInfoPtr
    private var framebuffer: UnsafeMutableRawPointer
    private(set) var width: Int
    private(set) var height: Int
    private var listeners: [Int32] = []

    /// `context` is handed back to the hooks (`screenData`); the caller keeps it alive as long as the process.
    init(width: Int, height: Int, configuration: VNCConfiguration, context: UnsafeMutableRawPointer,
         hooks: VNCHooks) throws {
        guard let address = Self.ipv4Address(configuration.host) else {
            throw VNCError(description: "VNC host '\(configuration.host)': expected an IPv4 address or localhost")
        }
        guard let screen = rfbGetScreen(nil, nil, Int32(width), Int32(height), 8, 3, 4) else {
            throw VNCError(description: "rfbGetScreen failed")
        }
        self.screen = screen
        self.width = width
        self.height = height
        framebuffer = Self.blankBuffer(width: width, height: height)
        screen.pointee.frameBuffer = framebuffer.assumingMemoryBound(to: CChar.self)
        screen.pointee.screenData = context
        // The library's strings and lists live as long as the screen, which lives as long as the process.
        screen.pointee.desktopName = UnsafePointer(strdup(configuration.desktopName))
        // The exporter accepts connections itself (see VNCServer.acceptLoop): libvncserver's listener would run
        // every new connection's WebSocket sniffing (up to 100 ms of waiting) on its one accept thread.
        screen.pointee.port = 0
        screen.pointee.ipv6port = 0
        screen.pointee.listenInterface = address
        // One viewer asking for exclusive access must not disconnect the others.
        screen.pointee.alwaysShared = VIREO_RFB_TRUE
        screen.pointee.neverShared = VIREO_RFB_FALSE
        // No default arrow painted into the pixels: the guest's cursor is set when it has one.
        screen.pointee.cursor = nil
        screen.pointee.maxClientWait = configuration.clientTimeoutMilliseconds
        if let cert = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            screen.pointee.sslcertfile = strdup(cert)
            screen.pointee.sslkeyfile = strdup(key)
        }
        screen.pointee.newClientHook = hooks.newClient
        screen.pointee.kbdAddEvent = hooks.key
        screen.pointee.ptrAddEvent = hooks.pointer
        screen.pointee.setXCutText = hooks.cutText
        screen.pointee.setXCutTextUTF8 = hooks.cutTextUTF8
        screen.pointee.setDesktopSizeHook = hooks.setDesktopSize
        screen.pointee.displayHook = hooks.updateStarting
        screen.pointee.displayFinishedHook = hooks.updateSent
        if let password = configuration.password { vireo_vnc_set_password(screen, password, hooks.authGate) }
    }

    /// Opens the listening sockets (returned for the accept loops) and starts libvncserver's threads.
    func start(host: String, ports: [Int]) throws -> [Int32] {
        for port in ports { listeners.append(try Self.listen(host: host, port: port)) }
        vireo_vnc_init_server(screen)
        // libvncserver's listener thread inherits the mask of the thread that starts it: not the caller's.
        let started = DispatchSemaphore(value: 0)
        Thread { [self] in
            Self.blockSignalsInThisThread()
            rfbRunEventLoop(screen, -1, VIREO_RFB_TRUE)
            started.signal()
        }.start()
        started.wait()
        return listeners
    }

    /// Asynchronous signals blocked in the calling thread and the threads it starts (see CVNCServer.h). For the
    /// exporter's threads, which start libvncserver's client threads.
    static func blockSignalsInThisThread() { vireo_vnc_block_async_signals() }

    /// Hands an accepted connection to libvncserver: it sniffs for a WebSocket or TLS handshake (waiting up to
    /// 100 ms for the client to speak first), greets the client and starts the client's threads. Blocks meanwhile.
    func adopt(socket: Int32) -> Bool { vireo_vnc_adopt_client(screen, socket) != 0 }

    /// A new, black framebuffer of the given size; clients get DesktopSize / ExtendedDesktopSize (or, without
    /// those encodings, the new picture in the old size).
    func resize(width: Int, height: Int) {
        let old = framebuffer
        framebuffer = Self.blankBuffer(width: width, height: height)
        // rfbNewFramebuffer takes every client's send lock, so no client reads the old buffer afterwards.
        vireo_vnc_new_framebuffer(screen, framebuffer.assumingMemoryBound(to: CChar.self), Int32(width), Int32(height))
        self.width = width
        self.height = height
        old.deallocate()
    }

    /// Copies `rect` of a B,G,R,X picture (rows `stride` bytes apart) into the framebuffer. Returns the part that
    /// changed (the bounding box of the pixels that differ), nil when none did; the caller marks it. Flushes that
    /// repeat what viewers have (a page flip is SET_SCANOUT then RESOURCE_FLUSH of the same picture) cost no send.
    func copy(_ rect: Rect, from pixels: UnsafeRawBufferPointer, stride: Int) -> Rect? {
        guard rect.isInside(width: UInt32(width), height: UInt32(height)), !rect.isEmpty,
              let base = pixels.baseAddress else { return nil }
        let start = Int(rect.y) * stride + Int(rect.x) * 4
        let end = start + (Int(rect.height) - 1) * stride + Int(rect.width) * 4
        guard end <= pixels.count else { return nil }
        var box: (Int32, Int32, Int32, Int32) = (0, 0, 0, 0)
        vireo_vnc_lock_framebuffer(screen)
        let changed = withUnsafeMutablePointer(to: &box) {
            $0.withMemoryRebound(to: Int32.self, capacity: 4) {
                vireo_vnc_copy_bgrx(screen, Int32(rect.x), Int32(rect.y), Int32(rect.width), Int32(rect.height),
                                    base.assumingMemoryBound(to: UInt8.self) + start, stride, $0)
            }
        }
        vireo_vnc_unlock_framebuffer(screen)
        guard changed != 0 else { return nil }
        return Rect(x: UInt32(box.0), y: UInt32(box.1), width: UInt32(box.2 - box.0), height: UInt32(box.3 - box.1))
    }

    /// Rewrites `rect` from a B,G,R,X picture where the framebuffer differs (libvncserver's cursor compositing
    /// restores pixels it saved before the exporter's last copy). Returns true when it changed something.
    func repair(_ rect: Rect, from pixels: UnsafeRawBufferPointer, stride: Int) -> Bool {
        guard rect.isInside(width: UInt32(width), height: UInt32(height)), !rect.isEmpty,
              let base = pixels.baseAddress, (Int(rect.height) - 1) * stride + Int(rect.width) * 4 <= pixels.count
        else { return false }
        return vireo_vnc_repair_bgrx(screen, Int32(rect.x), Int32(rect.y), Int32(rect.width), Int32(rect.height),
                                     base.assumingMemoryBound(to: UInt8.self), stride) != 0
    }

    /// Resends `rect` to the clients that take the cursor as a shape (they may have been sent pixels while the
    /// cursor was composited into the framebuffer for another client).
    func markModifiedForCursorClients(_ rect: Rect) {
        vireo_vnc_mark_modified_for_cursor_clients(screen, Int32(rect.x), Int32(rect.y), Int32(rect.x + rect.width),
                                                   Int32(rect.y + rect.height))
    }

    func clear() {
        vireo_vnc_lock_framebuffer(screen)
        framebuffer.initializeMemory(as: UInt32.self, repeating: Self.opaqueBlack, count: width * height)
        vireo_vnc_unlock_framebuffer(screen)
    }

    /// Clients send these pixels on their next update request (libvncserver keeps one region per client, so a
    /// slow client gets the newest pixels of everything modified since its last update, never a backlog).
    func markModified(_ rect: Rect) {
        vireo_vnc_mark_modified(screen, Int32(rect.x), Int32(rect.y), Int32(rect.x + rect.width),
                              Int32(rect.y + rect.height))
    }

    /// `bgra`: width x height B,G,R,A pixels (straight alpha); nil hides the cursor.
    func setCursor(_ bgra: [UInt8]?, width: Int, height: Int, hotX: Int, hotY: Int) {
        guard let bgra, bgra.count >= width * height * 4 else {
            vireo_vnc_set_cursor(screen, nil, 0, 0, 0, 0)
            return
        }
        bgra.withUnsafeBufferPointer {
            vireo_vnc_set_cursor(screen, $0.baseAddress, Int32(width), Int32(height), Int32(hotX), Int32(hotY))
        }
    }

    /// Drops clients that connected more than `milliseconds` ago and are still in the handshake.
    func dropStalledHandshakes(after milliseconds: Int) -> Int {
        Int(vireo_vnc_drop_stalled_handshakes(screen, milliseconds))
    }

    func moveCursor(x: Int, y: Int) { vireo_vnc_move_cursor(screen, Int32(x), Int32(y)) }

    /// Closes the listeners and disconnects every client. The screen itself is kept (hooks may still be running,
    /// and libvncserver's idle listener thread stays): servers live as long as the process, tests stop theirs.
    func shutdown() {
        for fd in listeners { Glibc.shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
        listeners = []
        vireo_vnc_disconnect_all(screen)
    }

    private static func blankBuffer(width: Int, height: Int) -> UnsafeMutableRawPointer {
        let bytes = max(1, width * height * 4)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16)
        buffer.initializeMemory(as: UInt32.self, repeating: opaqueBlack, count: bytes / 4)
        return buffer
    }

    /// R, G, B = 0 and the padding byte 0xff (see vireo_vnc_copy_bgrx), as a little-endian word.
    private static let opaqueBlack = UInt32(0xff00_0000).littleEndian

    /// In network byte order, as listenInterface wants it.
    static func ipv4Address(_ host: String) -> in_addr_t? {
        let name = host == "localhost" ? "127.0.0.1" : host
        var address = in_addr()
        guard inet_pton(AF_INET, name, &address) == 1 else { return nil }
        return address.s_addr
    }

    private static func listen(host: String, port: Int) throws -> Int32 {
        guard let address = ipv4Address(host) else { throw VNCError(description: "bad host \(host)") }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw VNCError(description: "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(UInt16(port).bigEndian)
        sin.sin_addr.s_addr = address
        let bound = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 128) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw VNCError(description: "cannot listen on \(host):\(port) (\(reason))")
        }
        return fd
    }
}

/// The C hooks a screen calls (each finds its exporter through the client's screen context).
struct VNCHooks {
    var newClient: rfbNewClientHookPtr
    var key: rfbKbdAddEventProcPtr
    var pointer: rfbPtrAddEventProcPtr
    var cutText: rfbSetXCutTextProcPtr
    var cutTextUTF8: rfbSetXCutTextUTF8ProcPtr
    var setDesktopSize: rfbSetDesktopSizeHookPtr
    var updateStarting: rfbDisplayHookPtr
    var updateSent: rfbDisplayFinishedHookPtr
    var authGate: vireo_vnc_auth_gate
}
