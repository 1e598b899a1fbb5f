// APIError: every HTTP API failure, rendered as a JSON body {"error": "..."} with its status in one place.
import Foundation
import Hummingbird

struct APIError: HTTPResponseError, Sendable {
    var status: HTTPResponse.Status
    var message: String
    /// For 408s from waits: the path of the last screenshot the server looked at (GET it for the picture).
    var lastScreenshot: String?
    var frameCounter: UInt64?

    init(status: HTTPResponse.Status, message: String, lastScreenshot: String? = nil, frameCounter: UInt64? = nil) {
        self.status = status; self.message = message; self.lastScreenshot = lastScreenshot
        self.frameCounter = frameCounter
    }

    static func unknownDisplay(_ text: String) -> APIError { .init(status: .notFound, message: "no display \(text)") }
    static func disabled(_ index: Int) -> APIError { .init(status: .conflict, message: "display \(index) is not enabled") }
    static func badRequest(_ message: String) -> APIError { .init(status: .badRequest, message: message) }
    static func timeout(_ message: String, lastScreenshot: String? = nil, frameCounter: UInt64? = nil) -> APIError {
        .init(status: .requestTimeout, message: message, lastScreenshot: lastScreenshot, frameCounter: frameCounter)
    }
    static func tooLarge(_ message: String) -> APIError { .init(status: .contentTooLarge, message: message) }
    static let noGuest = APIError(status: .serviceUnavailable, message: "no guest is connected")
    static let busy = APIError(status: .tooManyRequests, message: "too many screenshots in progress, retry")
    static let tooManyWaiters = APIError(status: .tooManyRequests, message: "too many waiting requests, retry later")
    static let unauthorized = APIError(status: .unauthorized, message: "missing or wrong bearer token")

    private struct Body: Encodable {
        var error: String
        var last_screenshot: String?
        var frame_counter: UInt64?
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = Response.json(Body(error: message, last_screenshot: lastScreenshot, frame_counter: frameCounter),
                                     status: status)
        if status == .unauthorized { response.headers[.wwwAuthenticate] = #"Bearer realm="vireo""# }
        return response
    }
}

extension Response {
    /// A JSON response. Encoding our own Encodable values does not fail; if it ever did, the client gets a 500.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var status = status
        let data: Data
        do {
            data = try encoder.encode(value)
        } catch {
            status = .internalServerError
            data = Data(#"{"error":"response encoding failed"}"#.utf8)
        }
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns errors that are not APIErrors (the router's 404 for unknown paths, 405s, anything unexpected) into the same
/// JSON shape, so every error body a client sees is {"error": "..."}.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as HTTPResponseError {
            let message = error.status.code == 404 ? "no such path \(request.uri.path)" : error.status.reasonPhrase
            return .json(["error": message], status: error.status)
        } catch {
            context.logger.error("HTTP API handler failed", metadata: ["error": "\(error)"])
            return .json(["error": "internal error"], status: .internalServerError)
        }
    }
}

/// `--api-token-file`: every request must carry `Authorization: Bearer <token>` (compared in constant time).
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              Self.equal(Array(header.utf8.dropFirst(7)), token)
        else { throw APIError.unauthorized }
        return try await next(request, context)
    }

    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0xFF)
        }
        return diff == 0
    }
}
