// ClientRoutes: /v1/clients, each client's limits, usage and refusal counters (what an operator alerts on), and
// /v1/clients/{id}/dma-check, which asks whether the client's GPU may access guest addresses now.
import Foundation
import GuestMemory
import Hummingbird

struct ClientRoutes: Sendable {
    let clients: @Sendable () -> [ClientReport]
    let checkDMA: (@Sendable (DMACheckRequest) -> Result<DMACheckResult, DMACheckError>)?
    static let maxCheckBody = 4096

    func register(on router: Router<some RequestContext>) {
        router.get("/v1/clients") { request, _ in
            try QueryOptions(request.uri, allowed: []).checkNoneLeft()
            return Response.json(self.clients())
        }
        router.get("/v1/clients/:id") { request, context in
            try QueryOptions(request.uri, allowed: []).checkNoneLeft()
            return Response.json(try self.client(context.parameters.get("id") ?? ""))
        }
        router.post("/v1/clients/:id/dma-check") { request, context in
            try QueryOptions(request.uri, allowed: []).checkNoneLeft()
            _ = try self.client(context.parameters.get("id") ?? "")
            return try await self.dmaCheck(request)
        }
    }

    private func client(_ text: String) throws(APIError) -> ClientReport {
        guard let id = DisplayRoutes.index(text), let report = clients().first(where: { $0.id == id }) else {
            throw APIError(status: .notFound, message: "no client '\(text.prefix(32))'")
        }
        return report
    }

    /// `{"access": "read"|"write", and one of "address" (+ "length", default 4096), "resource" or "scanout"}`.
    struct CheckBody: Decodable {
        var access: String
        var address: UInt64?
        var length: UInt64?
        var resource: UInt32?
        var scanout: Int?
    }

    struct CheckAnswer: Encodable {
        struct Range: Encodable { var address: UInt64; var length: UInt64 }
        var allowed: Bool
        var access: String
        var checked: [Range]
        var refusal: String?
        var refusedAddress: UInt64?
        enum CodingKeys: String, CodingKey {
            case allowed, access, checked, refusal
            case refusedAddress = "refused_address"
        }
    }

    private func dmaCheck(_ request: Request) async throws(APIError) -> Response {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: Self.maxCheckBody) } catch {
            throw .tooLarge("the body is larger than \(Self.maxCheckBody) bytes")
        }
        let usage = #"expected JSON {"access": "read" or "write", and one of "address" (with "length", default 4096), "resource" or "scanout"}"#
        let body: CheckBody
        do { body = try JSONDecoder().decode(CheckBody.self, from: Data(buffer.readableBytesView)) } catch {
            throw .badRequest(usage)
        }
        let access: DMAAccess
        switch body.access {
        case "read": access = .read
        case "write": access = .write
        default: throw .badRequest(usage)
        }
        let target: DMACheckRequest.Target
        switch (body.address, body.resource, body.scanout) {
        case (let a?, nil, nil):
            let length = body.length ?? 4096
            guard (1...(1 << 32)).contains(length) else { throw .badRequest("length: 1...4294967296") }
            target = .address(a, length: length)
        case (nil, let r?, nil) where body.length == nil: target = .resource(r)
        case (nil, nil, let s?) where body.length == nil: target = .scanout(s)
        default: throw .badRequest(usage)
        }
        guard let checkDMA else { throw APIError(status: .serviceUnavailable, message: "DMA checks are not available here") }
        let outcome = await withCheckedContinuation { continuation in
            // Blocks up to the check's timeout (an IOTLB miss waits for the frontend): not on an event loop.
            Thread { continuation.resume(returning: checkDMA(DMACheckRequest(target: target, access: access))) }.start()
        }
        switch outcome {
        case .success(let r):
            return .json(CheckAnswer(allowed: r.allowed, access: body.access,
                                     checked: r.checked.map { .init(address: $0.address, length: $0.length) },
                                     refusal: r.refusal, refusedAddress: r.refusedAddress))
        case .failure(.noGuest): throw APIError(status: .serviceUnavailable, message: "no GPU frontend is connected")
        case .failure(.noResource(let what)): throw APIError(status: .notFound, message: what)
        case .failure(.tooLong): throw .badRequest("length: 1...4294967296")
        case .failure(.timedOut): throw APIError(status: .gatewayTimeout, message: "the GPU connection did not answer in time")
        }
    }
}
