// GPUSideChannel: the vhost-user-gpu display channel (QEMU docs/interop/vhost-user-gpu.rst), backend side.
// The backend tells the frontend about scanouts, pixel updates (x8r8g8b8) and the cursor; it asks for the
// display info and EDID. Replies are awaited with a timeout so a stuck frontend cannot hang the device.
import VireoSystem
import Wire

public enum GPUSideChannelRequest: UInt32, Sendable {
    case getProtocolFeatures = 1, setProtocolFeatures = 2, getDisplayInfo = 3, cursorPos = 4, cursorPosHide = 5
    case cursorUpdate = 6, scanout = 7, update = 8, dmabufScanout = 9, dmabufUpdate = 10, getEDID = 11
    case dmabufScanout2 = 12
}

public struct GPUSideChannel {
    public static let headerSize = 12
    public static let replyFlag: UInt32 = 0x4
    public static let protocolFeatureEDID: UInt64 = 1 << 0
    /// How long the backend waits for a reply before giving up on the frontend (its main loop may be busy).
    public static let replyTimeoutMS: Int32 = 5000

    public let socket: OwnedFD
    /// How long `call` busy-waits for a reply before sleeping in poll(2) (0: never spins).
    public let spinMicroseconds: Int
    /// Runs while a send waits for the frontend to read (it may be waiting for us: IOTLB updates need our ack).
    public var whileBlocked: (() -> Void)?

    public init(socket: OwnedFD, spinMicroseconds: Int = 0) {
        self.socket = socket
        self.spinMicroseconds = spinMicroseconds
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case timeout(GPUSideChannelRequest)
        case closed
        case badReply(String)
        public var description: String {
            switch self {
            case .timeout(let r): "no reply to \(r) within \(GPUSideChannel.replyTimeoutMS) ms"
            case .closed: "frontend closed the display channel"
            case .badReply(let why): "bad reply: \(why)"
            }
        }
    }

    public func send(_ request: GPUSideChannelRequest, payload: [UInt8]) throws {
        var w = WireWriter(capacity: 12 + payload.count)
        w.write(request.rawValue); w.write(UInt32(0)); w.write(UInt32(payload.count)); w.write(bytes: payload)
        try UnixSocket.send(socket, w.bytes, whileBlocked: whileBlocked)
    }

    /// Sends and waits for the matching reply's payload.
    /// `whileWaiting` runs between short waits: the frontend may need an answer from us (an IOTLB update waiting
    /// for its ack) before its display can reply.
    public func call(_ request: GPUSideChannelRequest, payload: [UInt8] = [], maxReply: Int = 4096,
                     whileWaiting: (() -> Void)? = nil) throws -> [UInt8] {
        try send(request, payload: payload)
        var ready = try UnixSocket.waitReadable(socket, timeoutMS: whileWaiting == nil ? Self.replyTimeoutMS : 10,
                                                spinMicroseconds: spinMicroseconds)
        if !ready, let whileWaiting {
            let deadline = ContinuousClock.now + .milliseconds(Int(Self.replyTimeoutMS))
            while !ready && ContinuousClock.now < deadline {
                whileWaiting()
                ready = try UnixSocket.waitReadable(socket, timeoutMS: 10)
            }
        }
        guard ready else { throw Failure.timeout(request) }
        guard let head = try UnixSocket.receiveExactly(socket, count: Self.headerSize) else { throw Failure.closed }
        var r = WireReader(head)
        let code: UInt32 = try r.read(), flags: UInt32 = try r.read(), size: UInt32 = try r.read()
        guard code == request.rawValue, flags & Self.replyFlag != 0 else {
            throw Failure.badReply("expected reply to \(request.rawValue), got \(code) flags \(flags)")
        }
        guard size <= maxReply else { throw Failure.badReply("reply of \(size) bytes") }
        guard let body = try UnixSocket.receiveExactly(socket, count: Int(size)) else { throw Failure.closed }
        return body
    }

    public func scanout(_ index: UInt32, width: UInt32, height: UInt32) throws {
        var w = WireWriter()
        w.write(index); w.write(width); w.write(height)
        try send(.scanout, payload: w.bytes)
    }

    /// UPDATE with the rectangle's pixels (x8r8g8b8 rows, tightly packed on the wire), sent in one gather write
    /// straight from `rows` (no message is built: a 1080p frame is 8 MB). `rows` must hold width*4-byte rows.
    public func update(_ index: UInt32, x: UInt32, y: UInt32, width: UInt32, height: UInt32,
                       rows: StridedRows) throws {
        precondition(rows.rowBytes == Int(width) * 4 && rows.count == Int(height), "rows match the rectangle")
        // header (request, flags, size) then virtio_gpu_update (scanout_id, x, y, width, height), little-endian.
        let words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (
            GPUSideChannelRequest.update.rawValue.littleEndian, 0, UInt32(20 + rows.byteCount).littleEndian,
            index.littleEndian, x.littleEndian, y.littleEndian, width.littleEndian, height.littleEndian)
        try withUnsafeBytes(of: words) { header in
            try UnixSocket.send(socket, header: header, rows: rows, whileBlocked: whileBlocked)
        }
    }

    public func cursorPosition(_ scanout: UInt32, x: UInt32, y: UInt32, visible: Bool) throws {
        var w = WireWriter()
        w.write(scanout); w.write(x); w.write(y)
        try send(visible ? .cursorPos : .cursorPosHide, payload: w.bytes)
    }

    /// CURSOR_UPDATE: 64x64 pixels as 32-bit words (QEMU reads them as its cursor's ARGB data).
    public func cursorUpdate(_ scanout: UInt32, x: UInt32, y: UInt32, hotX: UInt32, hotY: UInt32,
                             argb: [UInt8]) throws {
        var w = WireWriter(capacity: 20 + 16384)
        w.write(scanout); w.write(x); w.write(y); w.write(hotX); w.write(hotY)
        var image = argb
        if image.count != 64 * 64 * 4 { image = [UInt8](repeating: 0, count: 64 * 64 * 4) }
        w.write(bytes: image)
        try send(.cursorUpdate, payload: w.bytes)
    }
}
