// DisplayRoutes: the /v1 routes over a DisplaySet. Listing and screenshots here; waiting in DisplayRoutes+Wait,
// compare and wait-for in DisplayRoutes+Compare, query parsing in QueryOptions.
import Display
import DisplayCompare
import DisplayPNG
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Synchronization

/// One entry of `GET /v1/displays` (and the body of `GET /v1/displays/{index}`).
struct DisplayListing: Encodable, Sendable {
    var index: Int
    var width: UInt32
    var height: UInt32
    var enabled: Bool
    var frameCounter: UInt64
    /// Pixel layout of screenshots' source frames: always x8r8g8b8 (bytes B, G, R, X).
    var format = "x8r8g8b8"
    /// ISO 8601 UTC time of the last flush that changed the picture; absent before the first.
    var lastDamage: String?
    /// Milliseconds since then; absent before the first.
    var msSinceLastDamage: Int?

    enum CodingKeys: String, CodingKey {
        case index, width, height, enabled, format
        case frameCounter = "frame_counter"
        case lastDamage = "last_damage"
        case msSinceLastDamage = "ms_since_last_damage"
    }

    init(_ info: ScanoutInfo, now: Date = Date()) {
        index = info.index; width = info.width; height = info.height; enabled = info.enabled
        frameCounter = info.frameCounter
        if let damage = info.lastDamage {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            lastDamage = formatter.string(from: damage)
            msSinceLastDamage = max(0, Int(now.timeIntervalSince(damage) * 1000))
        }
    }
}

struct DisplayRoutes: Sendable {
    /// At most this many CPU-heavy jobs (PNG encode or decode, compare, search) run at once; a request waits up to
    /// `slotWait` for one, then gets 429, so clients looping on screenshots cannot occupy every core.
    static let maxConcurrentEncodes = 2
    static let slotWait: Duration = .seconds(10)
    /// Index path components longer than this are not parsed (no display index has more than two digits).
    static let maxIndexDigits = 4

    let displays: @Sendable () -> DisplaySet?
    let settings: HTTPAPISettings
    /// The client's input device (`--input-socket`), for `POST /v1/input/keys`; nil: none configured.
    let input: InputPort?
    var options: PNGOptions { settings.pngOptions }
    let encodesInFlight = SharedCounter()
    let waiters = SharedCounter()
    let shots = ShotStore()

    init(displays: @escaping @Sendable () -> DisplaySet?, settings: HTTPAPISettings, input: InputPort? = nil) {
        self.displays = displays
        self.settings = settings
        self.input = input
    }

    func register(on router: Router<some RequestContext>) {
        router.get("/v1/displays") { request, _ in
            try QueryOptions(request.uri, allowed: []).checkNoneLeft()
            return try self.list()
        }
        router.get("/v1/displays/:index") { request, context in
            try QueryOptions(request.uri, allowed: []).checkNoneLeft()
            return try self.describe(indexText: context.parameters.get("index") ?? "")
        }
        router.get("/v1/displays/:index/screenshot.png") { request, context in
            try await self.screenshot(indexText: context.parameters.get("index") ?? "", uri: request.uri, ppm: false)
        }
        router.get("/v1/displays/:index/screenshot.ppm") { request, context in
            try await self.screenshot(indexText: context.parameters.get("index") ?? "", uri: request.uri, ppm: true)
        }
        router.post("/v1/displays/:index/compare") { request, context in
            try await self.compare(indexText: context.parameters.get("index") ?? "", request: request)
        }
        router.post("/v1/displays/:index/wait-for") { request, context in
            try await self.waitFor(indexText: context.parameters.get("index") ?? "", request: request)
        }
        router.get("/v1/shots/:name") { _, context in
            try await self.storedShot(name: context.parameters.get("name") ?? "")
        }
        router.post("/v1/input/keys") { request, _ in
            try QueryOptions(request.uri, allowed: []).checkNoneLeft()
            return try await self.typeKeys(request: request)
        }
    }

    func list() throws(APIError) -> Response {
        guard let set = displays() else { throw .noGuest }
        let now = Date()
        return .json(set.info().map { DisplayListing($0, now: now) })
    }

    func describe(indexText: String) throws(APIError) -> Response {
        let (set, index) = try display(indexText)
        return .json(DisplayListing(set.info()[index]))
    }

    /// A path index (display, client): digits only, since "+1", "0x1", " 1" and "-1" name nothing.
    static func index(_ text: String) -> Int? {
        guard !text.isEmpty, text.count <= maxIndexDigits, text.allSatisfy(\.isASCIIDigit) else { return nil }
        return Int(text)
    }

    /// The connected guest's displays and the parsed index; 503 with no guest, 404 for unknown or malformed indexes.
    func display(_ indexText: String) throws(APIError) -> (DisplaySet, Int) {
        guard let set = displays() else { throw .noGuest }
        guard let index = Self.index(indexText), index < set.count else { throw .unknownDisplay("'\(indexText.prefix(32))'") }
        return (set, index)
    }

    func screenshot(indexText: String, uri: URI, ppm: Bool) async throws(APIError) -> Response {
        let (set, index) = try display(indexText)
        let query = QueryOptions(uri, allowed: QueryOptions.shotKeys)
        let shot = try query.shotOptions(maxTimeoutMs: settings.maxTimeoutMs)
        try query.checkNoneLeft()
        let frame = try await acquire(set, index, shot)
        let region = try shot.checkedRegion(in: frame)
        let options = shot.compression ?? self.options
        let body: [UInt8]
        if ppm {
            body = try await cpuJob { () throws(APIError) in
                guard let image = PixelImage(frame: frame, region: region) else { throw .badRequest("region outside") }
                return image.ppm
            }
        } else {
            body = try await cpuJob { () throws(APIError) in
                do {
                    return try region.map { r throws(PNGError) in try PNGEncoder.encode(frame, region: r, options: options) }
                        ?? PNGEncoder.encode(frame, options: options)
                } catch {
                    throw APIError(status: .internalServerError, message: "PNG encoding failed: \(error)")
                }
            }
        }
        return Response(
            status: .ok,
            headers: [.contentType: ppm ? "image/x-portable-pixmap" : "image/png", .cacheControl: "no-store",
                      HTTPField.Name("X-Vireo-Frame-Counter")!: "\(frame.frameCounter)"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// `GET /v1/shots/{id}.png`: a picture a timed-out wait looked at last (kept for a while, a few at a time).
    func storedShot(name: String) async throws(APIError) -> Response {
        guard name.hasSuffix(".png"), let id = UInt64(name.dropLast(4)), let frame = shots.get(id) else {
            throw APIError(status: .notFound, message: "no stored screenshot '\(name.prefix(32))' (only the last \(ShotStore.capacity) are kept)")
        }
        let options = self.options
        let png = try await cpuJob { () throws(APIError) in
            do { return try PNGEncoder.encode(frame, options: options) } catch {
                throw APIError(status: .internalServerError, message: "PNG encoding failed: \(error)")
            }
        }
        return Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "no-store",
                                               HTTPField.Name("X-Vireo-Frame-Counter")!: "\(frame.frameCounter)"],
                        body: .init(byteBuffer: ByteBuffer(bytes: png)))
    }

    /// Runs CPU-heavy work on a Dispatch queue (neither a NIO event loop nor a cooperative-pool thread), once one of
    /// the `maxConcurrentEncodes` slots is free; 429 when none frees up within `slotWait`.
    func cpuJob<T: Sendable>(_ work: @escaping @Sendable () throws(APIError) -> T) async throws(APIError) -> T {
        let deadline = ContinuousClock.now + Self.slotWait
        while !encodesInFlight.tryIncrement(limit: Self.maxConcurrentEncodes) {
            guard ContinuousClock.now < deadline else { throw .busy }
            try? await Task.sleep(for: .milliseconds(5))
        }
        defer { encodesInFlight.decrement() }
        let result: Result<T, APIError> = await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(returning: Result { () throws(APIError) in try work() })
            }
        }
        return try result.get()
    }
}

/// A counter with a ceiling, shared by all requests.
final class SharedCounter: Sendable {
    private let value = Mutex(0)
    func tryIncrement(limit: Int) -> Bool {
        value.withLock { v in
            guard v < limit else { return false }
            v += 1
            return true
        }
    }
    func decrement() { value.withLock { $0 -= 1 } }
    var current: Int { value.withLock { $0 } }
}

/// The last few frames that timed-out waits looked at, by id, so a 408 can point at the picture.
final class ShotStore: Sendable {
    static let capacity = 8
    private let state = Mutex<(next: UInt64, frames: [(id: UInt64, frame: Frame)])>((1, []))
    func put(_ frame: Frame) -> UInt64 {
        state.withLock { s in
            let id = s.next
            s.next += 1
            s.frames.append((id, frame))
            if s.frames.count > Self.capacity { s.frames.removeFirst() }
            return id
        }
    }
    func get(_ id: UInt64) -> Frame? { state.withLock { s in s.frames.first { $0.id == id }?.frame } }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
