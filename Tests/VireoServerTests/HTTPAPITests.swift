// The HTTP API over real sockets: a server on 127.0.0.1 port 0, fetched with URLSession; screenshots are decoded and
// compared with the DisplaySet's pixels.
import Display
import DisplayPNG
import Foundation
import Logging
import ServiceLifecycle
import Testing
import VireoServer
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

private struct ServerDidNotStart: Error {}

/// Runs a server for `body` in a ServiceGroup and shuts it down gracefully afterwards.
private func withServer<T: Sendable>(
    _ displays: @escaping @Sendable () -> DisplaySet?, _ body: (URL) async throws -> T
) async throws -> T {
    let logger = Logger(label: "http-test")
    let server = DisplayHTTPServer(host: "127.0.0.1", port: 0, displays: displays, logger: logger)
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let group = ServiceGroup(configuration: .init(
        services: [server.makeApplication { port in continuation.yield(port) }], logger: logger))
    let task = Task {
        defer { continuation.finish() }   // a server that fails to start ends the wait below
        try await group.run()
    }
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next(), port > 0 else {
        await stop()
        throw ServerDidNotStart()
    }
    do {
        let result = try await body(URL(string: "http://127.0.0.1:\(port)")!)
        await stop()
        return result
    } catch {
        await stop()
        throw error
    }
}

private func get(_ base: URL, _ path: String) async throws -> (status: Int, type: String?, body: Data) {
    let session = URLSession(configuration: .ephemeral)
    let (data, response) = try await session.data(from: URL(string: base.absoluteString + path)!)
    let http = try #require(response as? HTTPURLResponse)
    return (http.statusCode, http.value(forHTTPHeaderField: "Content-Type"), data)
}

private func errorMessage(_ body: Data) throws -> String {
    let object = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
    return try #require(object["error"] as? String)
}

/// Two scanouts: 0 enabled at 61x37 with a pattern, 1 disabled.
private func makeDisplays() -> DisplaySet {
    let set = DisplaySet(modes: [DisplayMode(enabled: true, width: 61, height: 37),
                                 DisplayMode(enabled: false, width: 1024, height: 768)])
    set.enable(0, width: 61, height: 37)
    set.update(0, damage: Rect(x: 0, y: 0, width: 61, height: 37)) { buffer, stride in
        for y in 0..<37 {
            for x in 0..<61 {
                let i = y * stride + x * 4
                buffer[i] = UInt8(x * 4); buffer[i + 1] = UInt8(y * 6); buffer[i + 2] = UInt8((x * y) & 0xFF)
                buffer[i + 3] = 0
            }
        }
    }
    return set
}

@Suite("HTTP API over real sockets")
struct HTTPAPITests {
    @Test("GET /v1/displays lists every scanout with its size, state and frame counter")
    func listDisplays() async throws {
        let set = makeDisplays()
        let (status, type, body) = try await withServer({ set }) { try await get($0, "/v1/displays") }
        #expect(status == 200)
        #expect(type?.hasPrefix("application/json") == true)
        let entries = try #require(try JSONSerialization.jsonObject(with: body) as? [[String: Any]])
        #expect(entries.count == 2)
        let info = set.info()
        for (entry, expected) in zip(entries, info) {
            #expect(entry["index"] as? Int == expected.index)
            #expect(entry["width"] as? Int == Int(expected.width))
            #expect(entry["height"] as? Int == Int(expected.height))
            #expect(entry["enabled"] as? Bool == expected.enabled)
            #expect(entry["frame_counter"] as? Int == Int(expected.frameCounter))
        }
        #expect(entries[0]["enabled"] as? Bool == true && entries[0]["width"] as? Int == 61)
        #expect(entries[1]["enabled"] as? Bool == false)
    }

    @Test("GET /v1/displays/0/screenshot.png is a PNG of exactly the current frame")
    func screenshot() async throws {
        let set = makeDisplays()
        let frame = try #require(set.snapshot(0))
        let (status, type, body) = try await withServer({ set }) { try await get($0, "/v1/displays/0/screenshot.png") }
        #expect(status == 200)
        #expect(type == "image/png")
        let image = try PNGDecoder.decodeRGBA([UInt8](body), maxPixels: 1 << 20)
        #expect(image.width == 61 && image.height == 37)
        var expected: [UInt8] = []
        for y in 0..<37 {
            for x in 0..<61 {
                let i = y * frame.stride + x * 4
                expected += [frame.pixels[i + 2], frame.pixels[i + 1], frame.pixels[i], 255]
            }
        }
        #expect(image.rgba == expected)
    }

    @Test("unknown or malformed display indexes are 404 with a JSON message",
          arguments: ["2", "16", "-1", "abc", "+0", "0x0", "99999999999999999999999"])
    func unknownDisplay(index: String) async throws {
        let set = makeDisplays()
        let (status, type, body) = try await withServer({ set }) {
            try await get($0, "/v1/displays/\(index)/screenshot.png")
        }
        #expect(status == 404)
        #expect(type?.hasPrefix("application/json") == true)
        #expect(try errorMessage(body).contains("no display"))
    }

    @Test("a disabled display is 409")
    func disabledDisplay() async throws {
        let set = makeDisplays()
        let (status, _, body) = try await withServer({ set }) { try await get($0, "/v1/displays/1/screenshot.png") }
        #expect(status == 409)
        #expect(try errorMessage(body).contains("not enabled"))
    }

    @Test("with no guest connected both routes are 503")
    func noGuest() async throws {
        try await withServer({ nil }) { base in
            for path in ["/v1/displays", "/v1/displays/0/screenshot.png"] {
                let (status, _, body) = try await get(base, path)
                #expect(status == 503, "\(path)")
                #expect(try errorMessage(body).contains("no guest"))
            }
        }
    }

    @Test("unknown paths are 404 with a JSON message")
    func unknownPath() async throws {
        let set = makeDisplays()
        let (status, _, body) = try await withServer({ set }) { try await get($0, "/v1/nothing") }
        #expect(status == 404)
        #expect(try errorMessage(body).contains("/v1/nothing"))
    }
}
