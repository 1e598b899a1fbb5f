// Real clients against a real vireo-gpu process fed by the test driver (GPUTestBench playing QEMU and the guest):
// curl over a unix socket and TCP, the vireo CLI's commands and exit codes, the README's three-line test, and the
// guest's frame path staying fast while API clients stall or wait.
import Display
import DisplayCompare
import DisplayPNG
import Foundation
import Testing
import VireoTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The directory holding the built executables (next to the test bundle).
func productsDirectory() throws -> URL {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<3 {
        if FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("vireo-gpu").path) { return dir }
        dir = dir.deletingLastPathComponent()
    }
    let fallback = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug")
    guard FileManager.default.isExecutableFile(atPath: fallback.appendingPathComponent("vireo-gpu").path) else {
        throw RawHTTPError(description: "vireo-gpu is not built (swift build --build-tests)")
    }
    return fallback
}

struct ProcessResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a command to completion (with a deadline) and collects its output.
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], cwd: String? = nil,
         timeout: TimeInterval = 60) throws -> ProcessResult {
    let base = NSTemporaryDirectory() + "vireo-run-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { unlink(base + ".out"); unlink(base + ".err") }
    let pid = try spawnChild(executable, arguments, environment: environment, cwd: cwd, stdout: base + ".out",
                        stderr: base + ".err")
    let status = waitExit(pid, timeout: timeout)
    func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
    return ProcessResult(status: status, stdout: read(base + ".out"), stderr: read(base + ".err"))
}

/// A free TCP port on 127.0.0.1 (bound and released; fine for a test).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
            bind(fd, p, len)
            return getsockname(fd, p, &len)
        }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A vireo-gpu process with a guest attached through the test driver.
final class RunningBackend: @unchecked Sendable {
    // Sendable: one test drives it.
    let dir: String
    let pid: pid_t
    let bench: GPUTestBench
    let httpSocket: String
    let tokenFile: String
    let port: Int
    let bin: URL
    private var nextID: UInt32 = 1

    init(display: String = "64x48", token: String? = nil, unix: Bool = true, extraArguments: [String] = []) throws {
        bin = try productsDirectory()
        dir = NSTemporaryDirectory() + "vireo-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        httpSocket = dir + "/api.sock"
        tokenFile = dir + "/token"
        port = freePort()
        var args = ["--socket-path", dir + "/gpu.sock", "--display", display, "--log-level", "warning",
                    "--http", unix ? "unix:\(httpSocket)" : "127.0.0.1:\(port)", "--max-upload", "256K"]
        if let token {
            try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
            args += ["--api-token-file", tokenFile]
        }
        args += extraArguments
        pid = try spawnChild(bin.appendingPathComponent("vireo-gpu").path, args, stderr: dir + "/vireo-gpu.log")
        bench = try GPUTestBench(connectingTo: dir + "/gpu.sock")
    }

    /// The guest shows `pixels` (BGRX) on scanout 0 as a new resource.
    func show(width: UInt32, height: UInt32, pixels: [UInt8]) throws {
        try showPicture(bench, id: nextID, width: width, height: height, pixels: pixels)
        nextID += 1
    }

    func vireo(_ arguments: [String], environment: [String: String] = [:], cwd: String? = nil) throws -> ProcessResult {
        try run(bin.appendingPathComponent("vireo").path, arguments, environment: environment, cwd: cwd)
    }

    deinit {
        if kill(pid, 0) == 0 {
            kill(pid, SIGTERM)
            _ = waitExit(pid, timeout: 10)
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// A BGRX picture: a light background with a dark `box` (the "button" a test looks for).
func picture(width: Int, height: Int, box: Rect?, seed: UInt8 = 0) -> [UInt8] {
    var p = [UInt8](repeating: 0, count: width * height * 4)
    for y in 0..<height {
        for x in 0..<width {
            let i = (y * width + x) * 4
            var v: [UInt8] = [220, 220 &+ seed, 230, 255]
            if let box, x >= Int(box.x), x < Int(box.x + box.width), y >= Int(box.y), y < Int(box.y + box.height) {
                v = [UInt8(truncatingIfNeeded: x * 13), UInt8(truncatingIfNeeded: y * 7), 40, 255]
            }
            p.replaceSubrange(i..<i + 4, with: v)
        }
    }
    return p
}

func pngOf(width: Int, height: Int, bgrx: [UInt8], region: Rect? = nil) throws -> [UInt8] {
    let frame = Frame(width: UInt32(width), height: UInt32(height), pixels: bgrx, frameCounter: 0)
    if let region { return try PNGEncoder.encode(frame, region: region) }
    return try PNGEncoder.encode(frame)
}

@Suite("vireo-gpu process with curl and the vireo CLI", .serialized)
struct CLIEndToEndTests {
    @Test("curl over the unix socket with a token: 401 without it, the guest's exact picture with it")
    func curlUnixSocket() throws {
        let backend = try RunningBackend(token: "tok-123")
        let pixels = testPattern(width: 64, height: 48, seed: 3)
        try backend.show(width: 64, height: 48, pixels: pixels)
        let out = backend.dir + "/shot.png"
        let denied = try run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket",
                                               backend.httpSocket, "http://localhost/v1/displays/0/screenshot.png"])
        #expect(denied.stdout == "401")
        let ok = try run("/usr/bin/curl", ["-sf", "-H", "Authorization: Bearer tok-123", "--unix-socket", backend.httpSocket,
                                           "-o", out, "http://localhost/v1/displays/0/screenshot.png?wait=settled&quiet_ms=50"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let image = try PNGDecoder.decodeRGBA([UInt8](try Data(contentsOf: URL(fileURLWithPath: out))), maxPixels: 1 << 20)
        let frame = Frame(width: 64, height: 48, pixels: pixels, frameCounter: 0)
        #expect(image.rgba == PixelImage(frame: frame)?.rgba)
        // curl uploads a reference for compare (raw image/png body).
        let ref = backend.dir + "/ref.png"
        try Data(try pngOf(width: 64, height: 48, bgrx: pixels)).write(to: URL(fileURLWithPath: ref))
        let cmp = try run("/usr/bin/curl", ["-s", "-H", "Authorization: Bearer tok-123", "-H", "Content-Type: image/png",
                                            "--unix-socket", backend.httpSocket, "--data-binary", "@\(ref)",
                                            "http://localhost/v1/displays/0/compare"])
        #expect(cmp.stdout.contains(#""match":true"#), "\(cmp.stdout)")
        // SIGTERM still ends vireo-gpu with the API running, and both sockets are removed.
        kill(backend.pid, SIGTERM)
        #expect(waitExit(backend.pid, timeout: 5) == 0)
        #expect(!FileManager.default.fileExists(atPath: backend.httpSocket))
        #expect(!FileManager.default.fileExists(atPath: backend.dir + "/gpu.sock"))
    }

    @Test("the vireo CLI: displays, screenshot, compare (0 match, 1 mismatch), wait-for (0 found, 3 timeout), 2 usage")
    func cliExitCodes() throws {
        let backend = try RunningBackend(token: "tok-9")
        let w = 96, h = 64
        let button = Rect(x: 60, y: 40, width: 20, height: 12)
        let before = picture(width: w, height: h, box: nil)
        let after = picture(width: w, height: h, box: button)
        try backend.show(width: UInt32(w), height: UInt32(h), pixels: before)
        let server = ["--socket", backend.httpSocket, "--token-file", backend.tokenFile]
        let dir = backend.dir

        let list = try backend.vireo(["displays", "--json"] + server)
        #expect(list.status == 0 && list.stdout.contains(#""width":96"#), "\(list.stderr)")
        let table = try backend.vireo(["displays"] + server)
        #expect(table.status == 0 && table.stdout.contains("96x64"))

        let shot = try backend.vireo(["screenshot", "-d", "0", "-o", dir + "/before.png", "--wait-settled", "100ms"] + server)
        #expect(shot.status == 0, "\(shot.stderr)")
        let ppm = try backend.vireo(["screenshot", "-o", dir + "/before.ppm", "--region", "0,0,10,10"] + server)
        #expect(ppm.status == 0)
        #expect((try? Data(contentsOf: URL(fileURLWithPath: dir + "/before.ppm")))?.count == 13 + 300)

        #expect(try backend.vireo(["compare", "-d", "0", dir + "/before.png"] + server).status == 0)
        try Data(try pngOf(width: w, height: h, bgrx: after, region: button)).write(to: URL(fileURLWithPath: dir + "/button.png"))
        let notYet = try backend.vireo(["wait-for", "-d", "0", dir + "/button.png", "--timeout", "200ms",
                                        "--save-last", dir + "/last.png"] + server)
        #expect(notYet.status == 3, "\(notYet.stderr)")
        #expect(notYet.stderr.contains("last screenshot"))
        #expect(FileManager.default.fileExists(atPath: dir + "/last.png"))

        // The guest draws the button while the CLI waits for it.
        let bench = backend
        let drawer = Thread {
            Thread.sleep(forTimeInterval: 0.3)
            try? bench.show(width: UInt32(w), height: UInt32(h), pixels: after)
        }
        drawer.start()
        let found = try backend.vireo(["wait-for", "-d", "0", dir + "/button.png", "--timeout", "10s", "--json"] + server)
        #expect(found.status == 0, "\(found.stderr)")
        #expect(found.stdout.contains(#""x":60"#) && found.stdout.contains(#""y":40"#), "\(found.stdout)")

        let mismatch = try backend.vireo(["compare", "-d", "0", dir + "/before.png", "--json", "--diff", dir + "/diff.png"] + server)
        #expect(mismatch.status == 1, "\(mismatch.stderr)")
        #expect(mismatch.stdout.contains(#""match":false"#) && mismatch.stdout.contains(#""differing_pixels":240"#))
        #expect(FileManager.default.fileExists(atPath: dir + "/diff.png"))
        #expect(try backend.vireo(["compare", dir + "/before.png", "--mask", "60,40,20,12"] + server).status == 0)
        #expect(try backend.vireo(["compare", dir + "/before.png", "--tolerance", "0,240"] + server).status == 0)
        #expect(try backend.vireo(["compare", dir + "/before.png", "--tolerance", "0,4%"] + server).status == 0)
        #expect(try backend.vireo(["compare", dir + "/before.png", "--tolerance", "0,3%"] + server).status == 1)

        // Usage errors: 2, caught by the CLI or by the server's 400.
        #expect(try backend.vireo(["compare", dir + "/before.png", "--mask", "-1,0,5,5"] + server).status == 2)
        #expect(try backend.vireo(["compare", dir + "/before.png", "--mask", "90,60,10,10"] + server).status == 2)
        #expect(try backend.vireo(["screenshot", "-o", dir + "/x.png", "--wait-settled", "soon"] + server).status == 2)
        #expect(try backend.vireo(["compare", dir + "/button.png"] + server).status == 2)          // wrong size
        #expect(try backend.vireo(["bogus"]).status == 2)
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: dir + "/bad.png"))
        #expect(try backend.vireo(["compare", dir + "/bad.png"] + server).status == 2)
        // Other failures: 4 (wrong token, no server).
        try "wrong".write(toFile: dir + "/wrong", atomically: true, encoding: .utf8)
        let denied = try backend.vireo(["displays", "--socket", backend.httpSocket, "--token-file", dir + "/wrong"])
        #expect(denied.status == 4 && denied.stderr.contains("token"))
        #expect(try backend.vireo(["displays", "--socket", dir + "/nothing.sock"]).status == 4)
        // Completion scripts come from argument-parser.
        let completion = try backend.vireo(["--generate-completion-script", "bash"])
        #expect(completion.status == 0 && completion.stdout.contains("wait-for"))
    }

    @Test("the README's three-line screenshot test works as written (over TCP, VIREO_URL)")
    func readmeExample() throws {
        let backend = try RunningBackend(display: "320x200", unix: false)
        let w = 320, h = 200
        let prompt = Rect(x: 100, y: 80, width: 48, height: 16)
        let desktop = picture(width: w, height: h, box: prompt)
        // References a developer saved earlier (here: made from the same pictures).
        try Data(try pngOf(width: w, height: h, bgrx: desktop, region: prompt))
            .write(to: URL(fileURLWithPath: backend.dir + "/login-prompt.png"))
        var withClock = desktop
        for x in 0..<40 { withClock[(5 * w + 300 - x) * 4] = 0 }   // a "clock" in the top bar differs
        try Data(try pngOf(width: w, height: h, bgrx: withClock)).write(to: URL(fileURLWithPath: backend.dir + "/desktop.png"))
        // The guest boots: a blank screen, then a few frames, then the desktop.
        try backend.show(width: UInt32(w), height: UInt32(h), pixels: picture(width: w, height: h, box: nil))
        let bench = backend
        Thread {
            for i in 0..<5 {
                Thread.sleep(forTimeInterval: 0.05)
                try? bench.show(width: UInt32(w), height: UInt32(h), pixels: picture(width: w, height: h, box: nil, seed: UInt8(i)))
            }
            try? bench.show(width: UInt32(w), height: UInt32(h), pixels: desktop)
        }.start()
        let script = """
            export VIREO_URL=http://127.0.0.1:\(backend.port)
            vireo wait-for -d 0 login-prompt.png --timeout 60s
            vireo compare -d 0 desktop.png --wait-settled 500ms --mask 0,0,320,24 --tolerance 8,0.1%
            """
        let result = try run("/bin/sh", ["-ec", script], environment: ["PATH": backend.bin.path + ":/usr/bin:/bin"],
                             cwd: backend.dir)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("found at 100,80"))
        #expect(result.stdout.contains("match: 0 of"))
        // Without the mask the clock differs: exit 1, which the script would fail on.
        let strict = try run("/bin/sh", ["-c", "vireo compare -d 0 desktop.png --url http://127.0.0.1:\(backend.port)"],
                             environment: ["PATH": backend.bin.path + ":/usr/bin:/bin"], cwd: backend.dir)
        #expect(strict.status == 1)
    }

    @Test("the guest's frame path stays fast while API clients stall, wait and compare")
    func framePathNotBlocked() async throws {
        let backend = try RunningBackend(display: "640x480")
        let w = 640, h = 480
        try backend.show(width: UInt32(w), height: UInt32(h), pixels: picture(width: w, height: h, box: nil))
        let api = APIEndpoint.unix(path: backend.httpSocket)
        // Stalled connections: half a request, a body that never comes.
        var stalled: [Int32] = []
        for i in 0..<20 {
            let fd = try connectSocket(api)
            sendAll(fd, Array((i % 2 == 0 ? "GET /v1/disp" : "POST /v1/displays/0/compare HTTP/1.1\r\nContent-Length: 99999\r\n\r\nxx").utf8))
            stalled.append(fd)
        }
        defer { for fd in stalled { close(fd) } }
        // Waiters that never settle while the guest draws, and a needle that never appears.
        let needle = try pngOf(width: 8, height: 8, bgrx: [UInt8](repeating: 7, count: 256))
        let waiters = Task {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<30 {
                    group.addTask {
                        i % 3 == 0
                            ? try await request(api, "POST", "/v1/displays/0/wait-for?timeout_ms=1500", body: needle).status
                            : try await request(api, "GET", "/v1/displays/0/screenshot.png?wait=settled&quiet_ms=1000&timeout_ms=1500").status
                    }
                }
                var all: [Int] = []
                for try await s in group { all.append(s) }
                return all
            }
        }
        // The guest keeps flushing: each transfer+flush round trip must stay short. On a thread of its own: under CI
        // load the cooperative threads can be held by other suites' blocking tests for seconds, and a pause in the
        // flushing would let the waiters see a settled screen.
        let full = Rect(x: 0, y: 0, width: UInt32(w), height: UInt32(h))
        let bench = backend.bench
        let (worst, answers) = await onOwnThread { () -> (Double, [UInt32?]) in
            var worst = 0.0, answers: [UInt32?] = []
            for _ in 0..<40 {
                let start = Date()
                answers.append(bench.submit(GPURequest.transfer(1, full)).flatMap(GPURequest.responseType))
                answers.append(bench.submit(GPURequest.flush(1, full)).flatMap(GPURequest.responseType))
                worst = max(worst, Date().timeIntervalSince(start))
                usleep(20_000)
            }
            return (worst, answers)
        }
        #expect(answers.allSatisfy { $0 == okNoData }, "\(answers)")
        let statuses = try await waiters.value
        #expect(statuses.allSatisfy { $0 == 408 }, "\(statuses)")
        // A blocked frame path would wait for the stalled clients' timeouts (seconds); loose for loaded machines.
        #expect(worst < 2, "slowest flush round trip \(worst) s")
    }
}
