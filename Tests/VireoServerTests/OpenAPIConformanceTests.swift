// docs/openapi.json against the running server: every documented operation is exercised, and every answer's status,
// content type and JSON body (schemas with required fields, types and no undocumented fields) match the document.
import Display
import Foundation
import Logging
import Testing
import VireoServer

/// A small validator for the OpenAPI 3 subset docs/openapi.json uses.
struct OpenAPIDocument {
    let root: [String: Any]
    init() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/openapi.json")
        root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }
    var paths: [String: [String: Any]] { root["paths"] as? [String: [String: Any]] ?? [:] }

    /// The documented template matching a concrete path ("/v1/displays/0/compare" -> "/v1/displays/{index}/compare").
    func template(for path: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return paths.keys.first { t in
            let tp = t.split(separator: "/", omittingEmptySubsequences: false)
            return tp.count == parts.count && zip(tp, parts).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }
    }

    func resolve(_ schema: [String: Any]) -> [String: Any] {
        guard let ref = schema["$ref"] as? String else { return schema }
        var node: Any = root
        for key in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(key)] ?? [:] }
        return node as? [String: Any] ?? [:]
    }

    /// Problems with `value` against `schema` (empty: valid).
    func validate(_ value: Any, _ schemaIn: [String: Any], at path: String = "$") -> [String] {
        let schema = resolve(schemaIn)
        switch schema["type"] as? String {
        case "object":
            guard let object = value as? [String: Any] else { return ["\(path): not an object"] }
            var problems: [String] = []
            let properties = schema["properties"] as? [String: [String: Any]] ?? [:]
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                problems.append("\(path).\(key): required, missing")
            }
            for (key, v) in object {
                if let p = properties[key] { problems += validate(v, p, at: "\(path).\(key)") }
                else if schema["additionalProperties"] as? Bool == false { problems.append("\(path).\(key): not documented") }
            }
            return problems
        case "array":
            guard let array = value as? [Any] else { return ["\(path): not an array"] }
            let items = schema["items"] as? [String: Any] ?? [:]
            return array.enumerated().flatMap { validate($1, items, at: "\(path)[\($0)]") }
        case "integer":
            guard let n = value as? NSNumber, n.doubleValue == n.doubleValue.rounded() else { return ["\(path): not an integer"] }
            return []
        case "number": return value is NSNumber ? [] : ["\(path): not a number"]
        case "boolean":
            return value is Bool ? [] : ["\(path): not a boolean"]
        case "string":
            guard let s = value as? String else { return ["\(path): not a string"] }
            if let e = schema["enum"] as? [String], !e.contains(s) { return ["\(path): \(s) not in \(e)"] }
            return []
        default: return []
        }
    }

    /// Checks one exchange; returns problems.
    func check(method: String, path: String, reply: RawReply) -> [String] {
        let bare = String(path.split(separator: "?", maxSplits: 1)[0])
        guard let t = template(for: bare), let op = paths[t]?[method.lowercased()] as? [String: Any] else {
            return reply.status == 404 ? [] : ["\(method) \(bare): not documented"]
        }
        guard let response = (op["responses"] as? [String: Any])?["\(reply.status)"] as? [String: Any] else {
            return ["\(method) \(t): status \(reply.status) not documented"]
        }
        guard let content = response["content"] as? [String: [String: Any]] else { return [] }
        let type = String((reply.headers["content-type"] ?? "").split(separator: ";")[0])
        guard let media = content[type] else { return ["\(method) \(t) \(reply.status): content type \(type) not documented"] }
        guard type == "application/json" else { return [] }
        guard let json = try? JSONSerialization.jsonObject(with: Data(reply.body)) else { return ["\(method) \(t): body is not JSON"] }
        return validate(json, media["schema"] as? [String: Any] ?? [:]).map { "\(method) \(t) \(reply.status): \($0)" }
    }
}

@Suite("OpenAPI document matches the server")
struct OpenAPIConformanceTests {
    @Test("every operation in docs/openapi.json answers as documented, errors included")
    func conformance() async throws {
        let doc = try OpenAPIDocument()
        let set = patternDisplays()
        let reference = try referencePNG(set)
        let needle = try referencePNG(set, region: Rect(x: 4, y: 4, width: 6, height: 6))
        let auth = ["Authorization": "Bearer t0k"]
        let exchanges: [(String, String, [UInt8]?, [String: String], Int)] = [
            ("GET", "/v1/displays", nil, auth, 200),
            ("GET", "/v1/displays", nil, [:], 401),
            ("GET", "/v1/displays?x=1", nil, auth, 400),
            ("GET", "/v1/displays/0", nil, auth, 200),
            ("GET", "/v1/displays/1", nil, auth, 200),
            ("GET", "/v1/displays/7", nil, auth, 404),
            ("GET", "/v1/displays/0/screenshot.png?region=1,1,5,5&cursor=true", nil, auth, 200),
            ("GET", "/v1/displays/0/screenshot.png?region=1,1,500,5", nil, auth, 400),
            ("GET", "/v1/displays/0/screenshot.png?compression=fast", nil, auth, 200),
            ("GET", "/v1/displays/0/screenshot.png?compression=zip", nil, auth, 400),
            ("GET", "/v1/displays/0/screenshot.png?after_frame=99&timeout_ms=50", nil, auth, 408),
            ("GET", "/v1/displays/1/screenshot.png", nil, auth, 409),
            ("GET", "/v1/displays/0/screenshot.ppm?wait=settled&quiet_ms=1", nil, auth, 200),
            ("GET", "/v1/displays/9/screenshot.ppm", nil, auth, 404),
            ("POST", "/v1/displays/0/compare", reference, auth, 200),
            ("POST", "/v1/displays/0/compare?diff=true&mask=0,0,2,2&channel_delta=3", reference, auth, 200),
            ("POST", "/v1/displays/0/compare", needle, auth, 400),
            ("POST", "/v1/displays/0/compare", reference + [UInt8](repeating: 0, count: 40_000), auth, 413),
            ("POST", "/v1/displays/1/compare", reference, auth, 409),
            ("POST", "/v1/displays/0/wait-for?timeout_ms=100", needle, auth, 200),
            ("POST", "/v1/displays/0/wait-for?timeout_ms=50&area=20,20,10,10", needle, auth, 408),
            ("POST", "/v1/displays/0/wait-for?area=60,60,10,10", needle, auth, 400),
            ("GET", "/v1/shots/424242.png", nil, auth, 404),
            ("GET", "/v1/nothing", nil, auth, 404),
            ("GET", "/v1/clients", nil, auth, 200),
            ("GET", "/v1/clients", nil, [:], 401),
            ("GET", "/v1/clients?all=1", nil, auth, 400),
            ("GET", "/v1/clients/0", nil, auth, 200),
            ("GET", "/v1/clients/3", nil, auth, 404),
            ("POST", "/v1/clients/0/dma-check", Array(#"{"access":"read","address":4096}"#.utf8), auth, 503),
            ("POST", "/v1/clients/0/dma-check", Array(#"{"access":"sideways"}"#.utf8), auth, 400),
            ("POST", "/v1/clients/9/dma-check", Array(#"{"access":"read","address":4096}"#.utf8), auth, 404),
            ("POST", "/v1/input/keys", Array(#"{"keysyms":[97,65293],"text":"hi"}"#.utf8), auth, 200),
            ("POST", "/v1/input/keys", Array("nope".utf8), auth, 400),
            ("POST", "/v1/input/keys?x=1", Array(#"{"text":"a"}"#.utf8), auth, 400),
            ("POST", "/v1/input/keys", Array(#"{"text":"a"}"#.utf8), [:], 401),
            ("POST", "/v1/input/keys", [UInt8](repeating: 0x20, count: 70_000), auth, 413),
        ]
        // A client with Vireo's own IOMMU, so every documented field is present and checked.
        var logger = Logger(label: "openapi-test")
        logger.logLevel = .critical
        let gpuServer = GPUServer(config: ServerConfig(), logger: logger,
                                  client: try ClientContext(endpoint: 3, logger: logger))
        // A connected input device (a test frontend) for POST /v1/input/keys.
        let input = try InputRig()
        let problems = try await withAPI({ set }, clients: { gpuServer.clientReports() }, input: input.port,
                                         checkDMA: { gpuServer.checkDMA($0) },
                                         configure: { $0.token = "t0k"; $0.maxUploadBytes = 32_000 }) { api in
            var problems: [String] = []
            var covered = Set<String>()
            var lastShot: String?
            for (method, path, body, headers, expected) in exchanges {
                let reply = try await request(api, method, path, body: body, headers: headers)
                if reply.status != expected { problems.append("\(method) \(path): \(reply.status), expected \(expected) (\(reply.error))") }
                problems += doc.check(method: method, path: path, reply: reply)
                if let t = doc.template(for: String(path.split(separator: "?")[0])) { covered.insert("\(method.lowercased()) \(t)") }
                if let shot = reply.json?["last_screenshot"] as? String { lastShot = shot }
            }
            let shotPath = try #require(lastShot)
            let shot = try await request(api, "GET", shotPath, headers: auth)
            problems += doc.check(method: "GET", path: shotPath, reply: shot)
            // No guest: 503 as documented.
            for (path, ops) in doc.paths {
                for method in ops.keys { #expect(covered.contains("\(method) \(path)"), "\(method) \(path) never exercised") }
            }
            return problems
        }
        try await withAPI({ nil }) { api in
            let reply = try await request(api, "GET", "/v1/displays/0")
            #expect(reply.status == 503)
            #expect(doc.check(method: "GET", path: "/v1/displays/0", reply: reply).isEmpty)
            // No input device: 503 as documented.
            let keys = try await request(api, "POST", "/v1/input/keys", body: Array(#"{"text":"a"}"#.utf8))
            #expect(keys.status == 503)
            #expect(doc.check(method: "POST", path: "/v1/input/keys", reply: keys).isEmpty)
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("the validator itself catches undocumented fields, missing required ones and wrong types")
    func validatorWorks() throws {
        let doc = try OpenAPIDocument()
        let schema: [String: Any] = ["$ref": "#/components/schemas/Box"]
        #expect(doc.validate(["x": 1, "y": 2, "width": 3, "height": 4], schema).isEmpty)
        #expect(!doc.validate(["x": 1, "y": 2, "width": 3], schema).isEmpty)
        #expect(!doc.validate(["x": 1, "y": 2, "width": 3, "height": 4, "extra": 1], schema).isEmpty)
        #expect(!doc.validate(["x": "1", "y": 2, "width": 3, "height": 4], schema).isEmpty)
    }
}
