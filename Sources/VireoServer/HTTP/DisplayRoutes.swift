// DisplayRoutes: GET /v1/displays and GET /v1/displays/{index}/screenshot.png over a DisplaySet.
import Display
import DisplayPNG
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// One entry of `GET /v1/displays`.
struct DisplayListing: Encodable, Sendable {
    var index: Int
    var width: UInt32
    var height: UInt32
    var enabled: Bool
    var frameCounter: UInt64

    enum CodingKeys: String, CodingKey {
        case index, width, height, enabled
        case frameCounter = "frame_counter"
    }
}

struct DisplayRoutes: Sendable {
    /// At most this many PNG encodes run at once (each ~15 ms CPU and a frame copy at 1080p); more get 429, so a
    /// client looping on screenshots cannot occupy every core.
    static let maxConcurrentEncodes = 2
    /// Index path components longer than this are not parsed (no display index has more than two digits).
    static let maxIndexDigits = 4

    let displays: @Sendable () -> DisplaySet?
    let options: PNGOptions
    private let encodesInFlight = SharedCounter()

    init(displays: @escaping @Sendable () -> DisplaySet?, options: PNGOptions) {
        self.displays = displays
        self.options = options
    }

    func register(on router: Router<some RequestContext>) {
        router.get("/v1/displays") { _, _ in try self.list() }
        router.get("/v1/displays/:index/screenshot.png") { _, context in
            try await self.screenshot(indexText: context.parameters.get("index") ?? "")
        }
    }

    func list() throws(APIError) -> Response {
        guard let set = displays() else { throw .noGuest }
        let listing = set.info().map {
            DisplayListing(index: $0.index, width: $0.width, height: $0.height, enabled: $0.enabled,
                           frameCounter: $0.frameCounter)
        }
        return .json(listing)
    }

    func screenshot(indexText: String) async throws(APIError) -> Response {
        guard let set = displays() else { throw .noGuest }
        // Digits only: "+1", "0x1", " 1" and "-1" are not display names.
        guard !indexText.isEmpty, indexText.count <= Self.maxIndexDigits, indexText.allSatisfy(\.isASCIIDigit),
              let index = Int(indexText), index < set.count
        else { throw .unknownDisplay("'\(indexText.prefix(32))'") }
        guard let frame = set.snapshot(index), frame.width > 0, frame.height > 0 else { throw .disabled(index) }

        guard encodesInFlight.tryIncrement(limit: Self.maxConcurrentEncodes) else { throw .busy }
        defer { encodesInFlight.decrement() }
        let options = self.options
        let result = await Self.offload { () -> Result<[UInt8], PNGError> in
            Result { () throws(PNGError) in try PNGEncoder.encode(frame, options: options) }
        }
        switch result {
        case .success(let png):
            return Response(
                status: .ok,
                headers: [.contentType: "image/png", .cacheControl: "no-store",
                          HTTPField.Name("X-Vireo-Frame-Counter")!: "\(frame.frameCounter)"],
                body: .init(byteBuffer: ByteBuffer(bytes: png)))
        case .failure(let error):
            throw APIError(status: .internalServerError, message: "PNG encoding failed: \(error)")
        }
    }

    /// Runs CPU-heavy work on a Dispatch queue so it occupies neither a NIO event loop nor a cooperative-pool thread.
    private static func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
        }
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
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
