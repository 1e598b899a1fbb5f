// APIError: every HTTP API failure, rendered as a JSON body {"error": "..."} with its status in one place.
import Foundation
import Hummingbird

struct APIError: HTTPResponseError, Sendable {
    var status: HTTPResponse.Status
    var message: String

    static func unknownDisplay(_ text: String) -> APIError { .init(status: .notFound, message: "no display \(text)") }
    static func disabled(_ index: Int) -> APIError { .init(status: .conflict, message: "display \(index) is not enabled") }
    static let noGuest = APIError(status: .serviceUnavailable, message: "no guest is connected")
    static let busy = APIError(status: .tooManyRequests, message: "too many screenshots in progress, retry")

    func response(from request: Request, context: some RequestContext) throws -> Response {
        .json(["error": message], status: status)
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
            headers: [.contentType: "application/json; charset=utf-8"],
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
