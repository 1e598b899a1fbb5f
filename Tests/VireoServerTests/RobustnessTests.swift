// Robustness: connections come and go without leaking descriptors or mappings, and random vhost-user traffic
// never takes the process down.
import Foundation
import Testing
import VhostUser
import VireoServer
import VireoSystem
import VireoTestSupport
import Wire

@Suite(.serialized) struct RobustnessTests {
    /// Measured on a vireo-gpu process of its own: counting this test process's descriptors also counts what
    /// the suites running in parallel hold, which is noise as large as the leak being looked for.
    @Test("No descriptor or mapping leaks: 30 full connect / frame / disconnect cycles (a vireo-gpu process)")
    func noLeaks() throws {
        let dir = NSTemporaryDirectory() + "vireo-leak-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pid = try spawnChild(try productsDirectory().appendingPathComponent("vireo-gpu").path,
                            ["--socket-path", dir + "/gpu.sock", "--display", "64x48", "--log-level", "warning"],
                            stderr: dir + "/vireo-gpu.log")
        defer { kill(pid, SIGTERM); _ = waitExit(pid, timeout: 10) }
        func count(_ what: String) -> Int {
            what == "fd" ? ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1)
                : ((try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8))?
                    .split(separator: "\n").count ?? -1)
        }
        func cycle() throws {
            let bench = try GPUTestBench(connectingTo: dir + "/gpu.sock")
            try showPicture(bench, width: 16, height: 16, pixels: testPattern(width: 16, height: 16))
            _ = Glibc.shutdown(bench.frontend.channel.socket.rawValue, Int32(SHUT_RDWR))
        }
        /// The server cleans a connection up after it sees the hang-up; give it until the counts stop falling.
        func settledCount(_ what: String) -> Int {
            var last = count(what)
            for _ in 0..<40 {
                Thread.sleep(forTimeInterval: 0.05)
                let now = count(what)
                if now == last { return now }
                last = now
            }
            return last
        }
        try cycle()   // warm up lazily allocated runtime state (threads, allocator arenas)
        let fds = settledCount("fd"), maps = settledCount("maps")
        #expect(fds > 0 && maps > 0)
        for _ in 0..<30 { try cycle() }
        let fdsAfter = settledCount("fd"), mapsAfter = settledCount("maps")
        // A leaked connection keeps at least 4 descriptors (socket, epoll, kick/call eventfds) and its guest-RAM
        // mapping: 30 cycles would leak >= 120 descriptors and >= 30 mappings. Allocator arenas may add a few maps.
        #expect(fdsAfter - fds < 4, "descriptors \(fds) -> \(fdsAfter)")
        #expect(mapsAfter - maps < 20, "mappings \(maps) -> \(mapsAfter)")
        #expect(kill(pid, 0) == 0, "vireo-gpu is still running")
    }

    @Test("Random vhost-user messages never crash the server; each connection ends or keeps answering")
    func randomMessages() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<150 {
            let bench = try GPUTestBench()
            for _ in 0..<4 {
                var w = WireWriter()
                let request = UInt32.random(in: 0...45, using: &rng)
                let payload = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                w.write(request)
                w.write(UInt32([0x1, 0x9, 0x5, 0x0, 0xffff_ffff].randomElement(using: &rng)!))
                w.write(UInt32(payload.count))
                w.write(bytes: payload)
                let fds = Bool.random(using: &rng) ? [try EventFD.make()] : []
                try? UnixSocket.send(bench.frontend.channel.socket, w.bytes, fds: fds)
            }
            // Whatever happened, the process is alive and a fresh connection works.
        }
        let bench = try GPUTestBench()
        #expect(GPURequest.responseType(try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408))) == 0x1101)
    }
}
