// The screenshot-testing API over real sockets: display info, regions, PPM, waits, cursor, compare, wait-for,
// tokens, unix sockets and bad input (each answered with a clear 4xx, never a crash or a hang).
import Display
import DisplayCompare
import DisplayPNG
import Foundation
import Synchronization
import Testing
import VireoServer
#if canImport(Glibc)
import Glibc
#endif

@Suite("Screenshot API")
struct ScreenshotAPITests {
    @Test("GET /v1/displays/{i}: geometry, format, enabled, frame counter and the time of the last damage")
    func displayInfo() async throws {
        let set = patternDisplays()
        try await withAPI({ set }) { api in
            let r = try await request(api, "GET", "/v1/displays/0")
            #expect(r.status == 200)
            let j = try #require(r.json)
            #expect(j["width"] as? Int == 64 && j["height"] as? Int == 48 && j["enabled"] as? Bool == true)
            #expect(j["format"] as? String == "x8r8g8b8")
            #expect(j["frame_counter"] as? Int == 1)
            #expect((j["last_damage"] as? String)?.hasSuffix("Z") == true)
            #expect(j["ms_since_last_damage"] is Int)
            #expect(try await request(api, "GET", "/v1/displays/1").json?["enabled"] as? Bool == false)
            #expect(try await request(api, "GET", "/v1/displays/2").status == 404)
            #expect(try await request(api, "GET", "/v1/displays?x=1").status == 400)
        }
    }

    @Test("region screenshots are exactly that part; PPM is raw RGB")
    func regionAndPPM() async throws {
        let set = patternDisplays()
        let frame = try #require(set.snapshot(0))
        try await withAPI({ set }) { api in
            let r = try await request(api, "GET", "/v1/displays/0/screenshot.png?region=10,5,20,7")
            #expect(r.status == 200 && r.headers["content-type"] == "image/png")
            let image = try PNGDecoder.decodeRGBA(r.body, maxPixels: 1 << 20)
            let expected = try #require(PixelImage(frame: frame, region: Rect(x: 10, y: 5, width: 20, height: 7)))
            #expect(image.width == 20 && image.height == 7 && image.rgba == expected.rgba)
            let ppm = try await request(api, "GET", "/v1/displays/0/screenshot.ppm")
            #expect(ppm.status == 200 && ppm.headers["content-type"] == "image/x-portable-pixmap")
            #expect(ppm.body == PixelImage(frame: frame)!.ppm)
        }
    }

    @Test("bad regions and parameters are 400 with a message",
          arguments: ["region=-1,0,2,2", "region=0,0,99999999999,1", "region=60,0,5,5", "region=0,0,0,1",
                      "region=a,b,c,d", "region=1,2,3", "region=0,0,4294967295,4294967295", "wait=forever",
                      "quiet_ms=0", "timeout_ms=999999999", "after_frame=-1", "cursor=maybe", "bogus=1",
                      "region=1,1,1,1&region=2,2,2,2"])
    func badParameters(query: String) async throws {
        let set = patternDisplays()
        try await withAPI({ set }) { api in
            let r = try await request(api, "GET", "/v1/displays/0/screenshot.png?\(query)")
            #expect(r.status == 400, "\(query)")
            #expect(!r.error.isEmpty)
        }
    }

    @Test("after_frame long-polls for the next frame; past its timeout it is 408 with the last screenshot's URL")
    func afterFrame() async throws {
        let set = patternDisplays()
        try await withAPI({ set }) { api in
            async let reply = request(api, "GET", "/v1/displays/0/screenshot.png?after_frame=1&timeout_ms=5000")
            try await Task.sleep(for: .milliseconds(150))
            paint(set, seed: 50)
            let r = try await reply
            #expect(r.status == 200)
            #expect(r.headers["x-vireo-frame-counter"] == "2")
            let late = try await request(api, "GET", "/v1/displays/0/screenshot.png?after_frame=2&timeout_ms=100")
            #expect(late.status == 408)
            let last = try #require(late.json?["last_screenshot"] as? String)
            let shot = try await request(api, "GET", last)
            #expect(shot.status == 200 && shot.headers["content-type"] == "image/png")
        }
    }

    @Test("wait=settled answers only once no damage came for quiet_ms; never-settling screens are 408")
    func settled() async throws {
        let set = patternDisplays()
        try await withAPI({ set }) { api in
            // The painting and the timed request run on a thread of their own: under CI load the test's cooperative
            // threads can be held by other suites' blocking tests for seconds, which made the screen look quiet
            // before the request went out (two CI failures).
            @Sendable func paintWhileAsking(paints: Int, everyMS: UInt32, path: String) -> (Result<RawReply, any Error>, TimeInterval) {
                let firstPaint = DispatchSemaphore(value: 0), painted = DispatchSemaphore(value: 0)
                Thread {
                    for i in 0..<paints {
                        paint(set, seed: i)
                        if i == 0 { firstPaint.signal() }
                        usleep(everyMS * 1000)
                    }
                    painted.signal()
                }.start()
                firstPaint.wait()   // the screen has just changed when the request goes out
                let start = Date()
                let reply = Result { try requestBlocking(api, "GET", path) }
                let elapsed = Date().timeIntervalSince(start)
                painted.wait()
                return (reply, elapsed)
            }
            // quiet_ms far above the 20 ms paint interval, so a loaded machine's scheduling gaps do not look quiet.
            let (settled, elapsed) = await onOwnThread {
                paintWhileAsking(paints: 15, everyMS: 20, path: "/v1/displays/0/screenshot.png?wait=settled&quiet_ms=1000&timeout_ms=15000")
            }
            let r = try settled.get()
            #expect(r.status == 200)
            #expect(elapsed >= 0.3, "answered after \(elapsed) s, while frames were still coming")
            #expect(r.headers["x-vireo-frame-counter"] == "16")
            let (busy, _) = await onOwnThread {
                // Answered 200 only if the request reached the server 700 ms after the paint before it.
                paintWhileAsking(paints: 60, everyMS: 10, path: "/v1/displays/0/screenshot.png?wait=settled&quiet_ms=1000&timeout_ms=300")
            }
            let t = try busy.get()
            #expect(t.status == 408)
            #expect(t.error.contains("did not settle"))
        }
    }

    @Test("cursor=true draws the guest cursor; by default it is left out")
    func cursor() async throws {
        let set = patternDisplays()
        set.setCursor { c in
            c.visible = true; c.x = 10; c.y = 10
            c.image = [UInt8](repeating: 0, count: 64 * 64 * 4)
            for i in stride(from: 0, to: 4 * 4 * 4, by: 4) where (i / 4) < 4 {
                c.image[i] = 0; c.image[i + 1] = 0; c.image[i + 2] = 255; c.image[i + 3] = 255   // red, row 0
            }
        }
        try await withAPI({ set }) { api in
            let plain = try PNGDecoder.decodeRGBA(try await request(api, "GET", "/v1/displays/0/screenshot.png").body, maxPixels: 1 << 20)
            let with = try PNGDecoder.decodeRGBA(try await request(api, "GET", "/v1/displays/0/screenshot.png?cursor=true").body, maxPixels: 1 << 20)
            let at = (10 * 64 + 10) * 4
            #expect(Array(with.rgba[at..<at + 4]) == [255, 0, 0, 255])
            #expect(Array(plain.rgba[at..<at + 4]) != [255, 0, 0, 255])
        }
    }

    @Test("compare: match, mismatch with differing pixels and their box, masks, tolerance, diff PNG")
    func compare() async throws {
        let set = patternDisplays()
        let reference = try referencePNG(set)
        try await withAPI({ set }) { api in
            let same = try await request(api, "POST", "/v1/displays/0/compare", body: reference)
            #expect(same.status == 200)
            #expect(same.json?["match"] as? Bool == true && same.json?["differing_pixels"] as? Int == 0)

            paint(set, seed: 77, rect: Rect(x: 8, y: 6, width: 5, height: 4))
            let diff = try await request(api, "POST", "/v1/displays/0/compare?diff=true", body: reference)
            let j = try #require(diff.json)
            #expect(j["match"] as? Bool == false)
            #expect((j["differing_pixels"] as? Int ?? 0) > 0 && (j["differing_pixels"] as? Int ?? 99) <= 20)
            let box = try #require(j["difference_box"] as? [String: Any])
            #expect((box["x"] as? Int ?? 0) >= 8 && (box["y"] as? Int ?? 0) >= 6)
            #expect((box["x"] as? Int ?? 0) + (box["width"] as? Int ?? 0) <= 13)
            let png = try #require((j["diff_png"] as? String).flatMap { Data(base64Encoded: $0) })
            #expect(try PNGDecoder.decodeRGBA([UInt8](png), maxPixels: 1 << 20).width == 64)

            let masked = try await request(api, "POST", "/v1/displays/0/compare?mask=8,6,5,4", body: reference)
            #expect(masked.json?["match"] as? Bool == true)
            let tolerant = try await request(api, "POST", "/v1/displays/0/compare?max_diff_pixels=20", body: reference)
            #expect(tolerant.json?["match"] as? Bool == true)
            let fraction = try await request(api, "POST", "/v1/displays/0/compare?max_diff_fraction=0.0001", body: reference)
            #expect(fraction.json?["match"] as? Bool == false)
            let region = try await request(api, "POST", "/v1/displays/0/compare?region=20,20,10,10",
                                           body: try referencePNG(set, region: Rect(x: 20, y: 20, width: 10, height: 10)))
            #expect(region.json?["match"] as? Bool == true)
        }
    }

    @Test("compare refuses bad uploads with clear 4xx: malformed, truncated, wrong size, bomb, too large, masks outside")
    func compareBadInput() async throws {
        let set = patternDisplays()
        let reference = try referencePNG(set)
        var bomb = reference
        for (i, b) in [0x00, 0x01, 0x86, 0xA0, 0x00, 0x01, 0x86, 0xA0].enumerated() { bomb[16 + i] = UInt8(b) }  // 100000x100000
        var sameSizeCorrupt = reference
        for i in 60..<min(sameSizeCorrupt.count, 120) { sameSizeCorrupt[i] ^= 0x5A }
        let wrongSize = try PNGEncoder.encode(Frame(width: 10, height: 10, pixels: [UInt8](repeating: 1, count: 400), frameCounter: 0))
        let cases: [(String, String, [UInt8], Int, String)] = [
            ("garbage", "", Array("not a png at all, just text".utf8), 400, "not a PNG"),
            ("empty", "", [], 400, "no reference"),
            ("truncated header", "", Array(reference.prefix(20)), 400, "not a PNG"),
            ("truncated data", "", Array(reference.prefix(reference.count / 2)), 400, "not a valid PNG"),
            ("corrupt data", "", sameSizeCorrupt, 400, "not a valid PNG"),
            ("wrong size", "", wrongSize, 400, "10x10"),
            ("bomb", "", bomb, 413, "100000x100000"),
            ("mask outside", "?mask=60,40,10,10", reference, 400, "mask"),
            ("huge mask", "?mask=0,0,4294967295,4294967295", reference, 400, "mask"),
            ("negative mask", "?mask=-5,0,10,10", reference, 400, "mask"),
            ("bad delta", "?channel_delta=256", reference, 400, "channel_delta"),
            ("bad fraction", "?max_diff_fraction=2", reference, 400, "max_diff_fraction"),
        ]
        try await withAPI({ set }, configure: { $0.maxUploadBytes = 64 << 10 }) { api in
            for (name, query, body, status, text) in cases {
                let r = try await request(api, "POST", "/v1/displays/0/compare\(query)", body: body)
                #expect(r.status == status, "\(name): \(r.status) \(r.error)")
                #expect(r.error.contains(text), "\(name): \(r.error)")
            }
            let big = try await request(api, "POST", "/v1/displays/0/compare", body: reference + [UInt8](repeating: 0, count: 70 << 10))
            #expect(big.status == 413 && big.error.contains("upload limit"))
            let text = try await request(api, "POST", "/v1/displays/0/compare", body: reference, headers: ["Content-Type": "text/plain"])
            #expect(text.status == 400)
            #expect(try await request(api, "POST", "/v1/displays/1/compare", body: reference).status == 409)
            #expect(try await request(api, "POST", "/v1/displays/9/compare", body: reference).status == 404)
            // Still serving.
            #expect(try await request(api, "POST", "/v1/displays/0/compare", body: reference).json?["match"] as? Bool == true)
        }
    }

    @Test("wait-for finds a needle now or once it appears; 408 with the last screenshot's URL when it never does")
    func waitFor() async throws {
        let set = patternDisplays()
        let needle = try referencePNG(set, region: Rect(x: 30, y: 20, width: 8, height: 6))
        let other = patternDisplays(seed: 200)
        let future = try referencePNG(other, region: Rect(x: 5, y: 5, width: 10, height: 10))
        try await withAPI({ set }) { api in
            let now = try await request(api, "POST", "/v1/displays/0/wait-for?timeout_ms=2000", body: needle)
            #expect(now.status == 200)
            #expect(now.json?["x"] as? Int == 30 && now.json?["y"] as? Int == 20 && now.json?["found"] as? Bool == true)

            async let later = request(api, "POST", "/v1/displays/0/wait-for?timeout_ms=5000", body: future)
            try await Task.sleep(for: .milliseconds(200))
            paint(set, seed: 200)
            let r = try await later
            #expect(r.status == 200 && r.json?["x"] as? Int == 5 && r.json?["y"] as? Int == 5)
            #expect(r.json?["waited_ms"] is Int)   // how long depends on the machine's load: no timing asserted

            let area = try await request(api, "POST", "/v1/displays/0/wait-for?timeout_ms=150&area=20,20,40,28", body: future)
            #expect(area.status == 408)
            let last = try #require(area.json?["last_screenshot"] as? String)
            #expect(try await request(api, "GET", last).status == 200)
            #expect(try await request(api, "GET", "/v1/shots/999999.png").status == 404)

            let part = try await request(api, "POST", "/v1/displays/0/wait-for?timeout_ms=500&needle_region=0,0,4,4", body: future)
            #expect(part.status == 200 && part.json?["x"] as? Int == 5)
            let big = try PNGEncoder.encode(Frame(width: 65, height: 10, pixels: [UInt8](repeating: 0, count: 65 * 40), frameCounter: 0))
            #expect(try await request(api, "POST", "/v1/displays/0/wait-for", body: big).status == 400)
            #expect(try await request(api, "POST", "/v1/displays/0/wait-for?area=60,40,10,10", body: needle).status == 400)
            #expect(try await request(api, "POST", "/v1/displays/0/wait-for?needle_region=5,0,8,8", body: needle).status == 400)
            #expect(try await request(api, "POST", "/v1/displays/0/wait-for", body: Array(needle.prefix(40))).status == 400)
        }
    }

    @Test("with a token, requests without it or with a wrong one are 401; the right one works")
    func token() async throws {
        let set = patternDisplays()
        try await withAPI({ set }, configure: { $0.token = "s3cret-token" }) { api in
            let none = try await request(api, "GET", "/v1/displays")
            #expect(none.status == 401 && none.error.contains("token"))
            #expect(none.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
            #expect(try await request(api, "GET", "/v1/displays", headers: ["Authorization": "Bearer wrong"]).status == 401)
            #expect(try await request(api, "GET", "/v1/displays", headers: ["Authorization": "Bearer s3cret-toke"]).status == 401)
            #expect(try await request(api, "GET", "/v1/displays", headers: ["Authorization": "Basic s3cret-token"]).status == 401)
            #expect(try await request(api, "GET", "/v1/displays/0/screenshot.png", headers: ["Authorization": "Bearer s3cret-token"]).status == 200)
        }
    }

    @Test("the API serves on a unix socket")
    func unixSocket() async throws {
        let set = patternDisplays()
        let path = NSTemporaryDirectory() + "vireo-api-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { unlink(path) }
        try await withAPI({ set }, unixSocket: path) { api in
            let r = try await request(api, "GET", "/v1/displays/0/screenshot.png")
            #expect(r.status == 200 && r.headers["content-type"] == "image/png")
        }
    }

    @Test("stalled clients are disconnected after the idle timeout and never stop others from being served")
    func stalledClients() async throws {
        let set = patternDisplays()
        try await withAPI({ set }, configure: { $0.idleTimeout = .milliseconds(500) }) { api in
            // Half a request line, headers promising a body that never comes, and a connection that says nothing.
            let stalls = ["GET /v1/disp", "POST /v1/displays/0/compare HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n\u{89}PNG", ""]
            var fds: [Int32] = []
            for i in 0..<30 {
                let fd = try connectSocket(api, timeout: 10)
                sendAll(fd, Array(stalls[i % stalls.count].utf8))
                fds.append(fd)
            }
            let start = Date()
            #expect(try await request(api, "GET", "/v1/displays/0").status == 200)
            // Not held behind the stalled connections (their receive timeout is 10 s); loose for loaded CI machines.
            #expect(Date().timeIntervalSince(start) < 5)
            // Each stalled connection is closed by the server (recv sees EOF or an error status) within the bound.
            let held = fds
            let closedAll = await onOwnThread {
                held.allSatisfy { fd in
                    let data = receiveAll(fd)   // returns at EOF; the 10 s receive timeout would mean "held"
                    return data.isEmpty || String(decoding: data, as: UTF8.self).hasPrefix("HTTP/1.1 ")
                }
            }
            #expect(closedAll)
            #expect(Date().timeIntervalSince(start) < 20)
            for fd in fds { close(fd) }
        }
    }

    @Test("a client trickling its body byte by byte is cut off at the request deadline; others are served meanwhile")
    func tricklingClient() async throws {
        let set = patternDisplays()
        try await withAPI({ set }, configure: { $0.requestReadTimeout = .seconds(1) }) { api in
            let fd = try connectSocket(api, timeout: 10)
            defer { close(fd) }
            sendAll(fd, Array("POST /v1/displays/0/compare HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".utf8))
            let start = Date()
            let cutOff = await onOwnThread { () -> Bool in
                for _ in 0..<40 {   // 8 s of trickling if never cut off
                    let n = [UInt8(0x89)].withUnsafeBytes { send(fd, $0.baseAddress, 1, Int32(MSG_NOSIGNAL)) }
                    if n < 0 { return true }
                    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    if poll(&pfd, 1, 200) > 0 {   // readable: EOF or an answer, the server ended it
                        return true
                    }
                }
                return false
            }
            #expect(cutOff)
            #expect(Date().timeIntervalSince(start) < 7)   // never cut off would take 8 s
            #expect(try await request(api, "GET", "/v1/displays/0").status == 200)
        }
    }

    @Test("many concurrent waiters: bounded by maxWaiters (429 past it), all answered, none crash")
    func manyWaiters() async throws {
        let set = patternDisplays()
        let refused = Flag()
        try await withAPI({ set }, configure: { $0.maxWaiters = 12 }) { api in
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                // Waiters one after another until one is refused: that happens once 12 wait, however long each
                // takes to arrive on a loaded machine (so this asks rather than sleeps a guessed time).
                var started = 0
                while !refused.isSet, started < 40 {
                    group.addTask {
                        let status = try await request(api, "GET", "/v1/displays/0/screenshot.png?after_frame=1&timeout_ms=30000").status
                        if status == 429 { refused.set() }
                        return status
                    }
                    started += 1
                    try await Task.sleep(for: .milliseconds(started < 12 ? 10 : 200))
                }
                paint(set, seed: 9)
                var all: [Int] = []
                for try await s in group { all.append(s) }
                return all
            }
            #expect(statuses.filter { $0 == 200 }.count == 12, "every admitted waiter gets the new frame: \(statuses)")
            #expect(statuses.contains(429), "refused past maxWaiters: \(statuses)")
            #expect(statuses.allSatisfy { $0 == 200 || $0 == 429 }, "\(statuses)")
            #expect(try await request(api, "GET", "/v1/displays/0/screenshot.png").status == 200)
        }
    }

    @Test("with no guest every display route is 503")
    func noGuest() async throws {
        try await withAPI({ nil }) { api in
            for (method, path) in [("GET", "/v1/displays/0"), ("GET", "/v1/displays/0/screenshot.ppm"),
                                   ("POST", "/v1/displays/0/compare"), ("POST", "/v1/displays/0/wait-for")] {
                let r = try await request(api, method, path, body: method == "POST" ? [1, 2, 3] : nil)
                #expect(r.status == 503, "\(path)")
            }
        }
    }
}

/// A flag shared with concurrent tasks.
final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
