// ClientRoutes: /v1/clients, each client's limits, usage and refusal counters (what an operator alerts on).
import Hummingbird

struct ClientRoutes: Sendable {
    let clients: @Sendable () -> [ClientReport]

    func register(on router: Router<some RequestContext>) {
        router.get("/v1/clients") { request, _ in
            try QueryOptions(request.uri, allowed: []).checkNoneLeft()
            return Response.json(self.clients())
        }
        router.get("/v1/clients/:id") { request, context in
            try QueryOptions(request.uri, allowed: []).checkNoneLeft()
            let text = context.parameters.get("id") ?? ""
            guard let id = DisplayRoutes.index(text), let report = self.clients().first(where: { $0.id == id })
            else { throw APIError(status: .notFound, message: "no client '\(text.prefix(32))'") }
            return Response.json(report)
        }
    }
}
