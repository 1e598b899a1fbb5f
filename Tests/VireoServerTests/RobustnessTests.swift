// Robustness: connections come and go without leaking descriptors or mappings, and random vhost-user traffic
// never takes the process down.
import Foundation
import Testing
import VhostUser
import VireoServer
import VireoSystem
import VireoTestSupport
import Wire

func openDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

func mappingCount() -> Int {
    (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8))?.split(separator: "\n").count ?? -1
}

@Suite(.serialized) struct RobustnessTests {
    @Test("No descriptor or mapping leaks: 30 full connect / frame / disconnect cycles")
    func noLeaks() throws {
        func cycle() throws {
            let bench = try GPUTestBench()
            try showPicture(bench, width: 16, height: 16, pixels: testPattern(width: 16, height: 16))
            #expect(bench.disconnect())
        }
        try cycle()   // warm up lazily allocated runtime state
        Thread.sleep(forTimeInterval: 0.2)
        let fds = openDescriptorCount(), maps = mappingCount()
        for _ in 0..<30 { try cycle() }
        Thread.sleep(forTimeInterval: 0.5)
        // Other suites run in parallel and hold descriptors of their own (up to ~40, e.g. stalled HTTP clients);
        // a leaked connection keeps at least 4 (socket, epoll, kick/call eventfds): 30 cycles leak >= 120.
        #expect(openDescriptorCount() - fds < 60)
        #expect(mappingCount() - maps < 60)
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
