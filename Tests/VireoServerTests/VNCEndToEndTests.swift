// vireo-gpu --vnc with the test driver playing the guest: gvnccapture's picture of each scanout equals Vireo's own
// PNG of the same frame (HTTP API), for every 2D format, after a resize, and with two scanouts.
import Display
import DisplayPNG
import Foundation
import RFBTestClient
import Testing
import VhostUser
import VireoSystem
import VireoTestSupport
import VirtioInput
#if canImport(Glibc)
import Glibc
#endif


/// A vireo-gpu process with --vnc and the HTTP API, and the test driver as its guest.
final class VNCBackend: @unchecked Sendable {
    // Sendable: one test drives it.
    let dir: String
    let pid: pid_t
    let bench: GPUTestBench
    let vncPort: Int
    let api: String

    init(displays: [String], backendRequests: OwnedFD? = nil) throws {
        let bin = try productsDirectory()
        dir = NSTemporaryDirectory() + "vireo-vnc-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        vncPort = freeTCPPorts(displays.count)
        api = dir + "/api.sock"
        let args = ["--socket-path", dir + "/gpu.sock", "--log-level", "info", "--http", "unix:\(api)",
                    "--vnc", "127.0.0.1:\(vncPort)"] + displays.flatMap { ["--display", $0] }
        pid = try spawnChild(bin.appendingPathComponent("vireo-gpu").path, args, stderr: dir + "/vireo-gpu.log")
        bench = try GPUTestBench(connectingTo: dir + "/gpu.sock", backendRequests: backendRequests)
    }

    deinit {
        kill(pid, SIGTERM)
        _ = waitExit(pid, timeout: 10)
        try? FileManager.default.removeItem(atPath: dir)
    }

    var log: String { (try? String(contentsOfFile: dir + "/vireo-gpu.log", encoding: .utf8)) ?? "" }

    /// Vireo's own PNG of `scanout` as RGBA.
    func screenshot(_ scanout: Int) throws -> DecodedImage {
        let out = dir + "/shot.png"
        let r = try run("/usr/bin/curl", ["-sf", "--unix-socket", api, "-o", out, "http://localhost/v1/displays/\(scanout)/screenshot.png"])
        guard r.status == 0 else { throw RawHTTPError(description: "screenshot: \(r.stderr)") }
        return try PNGDecoder.decodeRGBA([UInt8](try Data(contentsOf: URL(fileURLWithPath: out))), maxPixels: 1 << 24)
    }

    /// gvnccapture's picture of `scanout` (alpha set opaque: gvnccapture writes 0).
    func capture(_ scanout: Int) throws -> DecodedImage {
        let out = dir + "/vnc.png"
        unlink(out)
        let r = try run("/usr/bin/gvnccapture", ["127.0.0.1:\(vncPort + scanout - 5900)", out], timeout: 30)
        guard r.status == 0 else { throw RawHTTPError(description: "gvnccapture: \(r.stdout) \(r.stderr)") }
        var image = try PNGDecoder.decodeRGBA([UInt8](try Data(contentsOf: URL(fileURLWithPath: out))), maxPixels: 1 << 24)
        for i in stride(from: 3, to: image.rgba.count, by: 4) { image.rgba[i] = 255 }
        return image
    }

    /// Captures until VNC shows Vireo's PNG of the scanout (the VNC mirror follows within ~100 ms), or 10 s pass.
    func expectVNCMatchesPNG(_ scanout: Int, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = try screenshot(scanout)
        let deadline = Date() + 10
        var got = try capture(scanout)
        while got != expected && Date() < deadline {
            usleep(100_000)
            got = try capture(scanout)
        }
        if got != expected {
            let differing = stride(from: 0, to: min(got.rgba.count, expected.rgba.count), by: 4)
                .filter { got.rgba[$0..<$0 + 4] != expected.rgba[$0..<$0 + 4] }.count
            Issue.record("\(what): VNC \(got.width)x\(got.height) vs PNG \(expected.width)x\(expected.height), \(differing) pixels differ",
                         sourceLocation: sourceLocation)
        }
    }

    /// The guest shows `bytes` (4 bytes per pixel in `format`) on `scanout` as resource `id`.
    func show(id: UInt32, format: UInt32, width: UInt32, height: UInt32, bytes: [UInt8], scanout: UInt32 = 0) throws {
        let full = Rect(x: 0, y: 0, width: width, height: height)
        for request in [GPURequest.create2D(id, format: format, width: width, height: height),
                        GPURequest.attachBacking(id, bench.backing(bytes, pieces: 2)),
                        GPURequest.transfer(id, full), GPURequest.setScanout(scanout, id, full), GPURequest.flush(id, full)] {
            let response = try #require(bench.submit(request))
            #expect(GPURequest.responseType(response) == okNoData)
        }
    }
}

@Suite("vireo-gpu --vnc with gvnccapture", .serialized)
struct VNCEndToEndTests {
    @Test("Every 2D format, then a resize: gvnccapture's picture equals Vireo's PNG of the same frame")
    func formatsAndResize() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gvnccapture") else {
            print("SKIP formatsAndResize: /usr/bin/gvnccapture is missing (Debian package gvncviewer)")
            return
        }
        let backend = try VNCBackend(displays: ["64x48"])
        let bytes = testPattern(width: 64, height: 48, seed: 11)
        var id: UInt32 = 1
        for format: UInt32 in [1, 2, 3, 4, 67, 68, 121, 134] {
            try backend.show(id: id, format: format, width: 64, height: 48, bytes: bytes)
            try backend.expectVNCMatchesPNG(0, "format \(format)")
            id += 1
        }
        // The B8G8R8X8 picture is also the test pattern itself (no swap anywhere on the way).
        try backend.show(id: id, format: 2, width: 64, height: 48, bytes: bytes)
        try backend.expectVNCMatchesPNG(0, "B8G8R8X8 again")
        var expected = [UInt8](repeating: 255, count: bytes.count)
        for i in stride(from: 0, to: bytes.count, by: 4) { expected[i] = bytes[i + 2]; expected[i + 1] = bytes[i + 1]; expected[i + 2] = bytes[i] }
        #expect(try backend.capture(0).rgba == expected)
        // A mode change: the guest shows a 96x40 picture.
        try backend.show(id: id + 1, format: 2, width: 96, height: 40, bytes: testPattern(width: 96, height: 40, seed: 3))
        try backend.expectVNCMatchesPNG(0, "after the resize")
        #expect(try backend.capture(0).width == 96)
        #expect(backend.log.contains("VNC for scanout 0 on 127.0.0.1:\(backend.vncPort)"))
    }

    @Test("Keys typed in a VNC viewer reach the guest's virtio-input device (--input-socket): keysyms and QEMU scancodes")
    func keysReachTheGuest() async throws {
        let bin = try productsDirectory().appendingPathComponent("vireo-gpu").path
        let dir = NSTemporaryDirectory() + "vireo-vnc-input-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vncPort = freeTCPPorts(1)
        let pid = try spawnChild(bin, ["--socket-path", dir + "/gpu.sock", "--input-socket", dir + "/input.sock",
                                  "--vnc", "127.0.0.1:\(vncPort)", "--log-level", "warning"], stderr: dir + "/vireo-gpu.log")
        defer { if kill(pid, 0) == 0 { kill(pid, SIGKILL); _ = waitExit(pid, timeout: 5) } }
        let rig = try InputRig(connectingTo: dir + "/input.sock")
        rig.postEventBuffers(4)
        var viewer: RawRFBClient?
        let deadline = Date() + 10
        while viewer == nil && Date() < deadline {
            viewer = try? RawRFBClient(port: vncPort)
            if viewer == nil { usleep(50_000) }
        }
        let client = try #require(viewer)
        try client.handshake()
        try client.setEncodings([0, -258])
        try client.send([4, 1, 0, 0, 0, 0, 0, 0x6f])                          // KeyEvent 'o' down
        try client.send([4, 0, 0, 0, 0, 0, 0, 0x6f])                          // and up
        try client.send([255, 0, 0, 1, 0, 0, 0, 0x61, 0, 0, 0, 0x1e])         // QEMU key event: scancode 0x1e down
        try client.send([255, 0, 0, 0, 0, 0, 0, 0x61, 0, 0, 0, 0x1e])         // and up
        let events = await onOwnThread { rig.events(8, timeout: 10) }
        #expect(events == [.key(24, 1), .synReport, .key(24, 0), .synReport, .key(30, 1), .synReport, .key(30, 0), .synReport],
                "\(events)")
    }

    @Test("A viewer's SetDesktopSize reaches the guest (CONFIG_CHANGE_MSG, new mode); the guest's new size reaches the viewer")
    func remoteResize() throws {
        let (frontendEnd, backendEnd) = try UnixSocket.pair()
        let backend = try VNCBackend(displays: ["64x48"], backendRequests: backendEnd)
        try backend.show(id: 1, format: 2, width: 64, height: 48, bytes: testPattern(width: 64, height: 48, seed: 5))
        let viewer = try RawRFBClient(port: backend.vncPort)
        try viewer.handshake()
        try viewer.setEncodings([0, -308])
        _ = try viewer.readPicture()
        // SetDesktopSize 200x100, one screen (id 0 at 0,0).
        try viewer.send([251, 0, 0, 200, 0, 100, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 0, 100, 0, 0, 0, 0])
        #expect(nextBackendRequest(frontendEnd) == VhostUserBackendRequest.configChangeMsg.rawValue)
        // The guest's driver reads the event and the new mode, then shows a picture of that size.
        #expect(try backend.bench.frontend.getConfig()[0] == 1)
        #expect(try firstMode(backend.bench) == (200, 100, 1))
        try backend.show(id: 2, format: 2, width: 200, height: 100, bytes: testPattern(width: 200, height: 100, seed: 6))
        var status: Int?, size = (0, 0)
        let deadline = Date() + 10
        while size != (200, 100) && Date() < deadline {
            try viewer.requestUpdate(incremental: true)
            for rect in try viewer.readUpdate() where rect.encoding == -308 {
                if rect.x == 1 { status = rect.y }                      // the answer to this client's request
                size = (rect.width, rect.height)
            }
        }
        #expect(status == 0, "ExtendedDesktopSize status \(String(describing: status)), expected 0 (success)")
        #expect(size == (200, 100))
        #expect(backend.log.contains("asked by a viewer"))
    }

    @Test("Two scanouts on PORT and PORT+1, each pixel-exact")
    func twoScanouts() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gvnccapture") else {
            print("SKIP twoScanouts: /usr/bin/gvnccapture is missing (Debian package gvncviewer)")
            return
        }
        let backend = try VNCBackend(displays: ["64x48", "80x40"])
        try backend.show(id: 1, format: 2, width: 64, height: 48, bytes: testPattern(width: 64, height: 48, seed: 1), scanout: 0)
        try backend.show(id: 2, format: 2, width: 80, height: 40, bytes: testPattern(width: 80, height: 40, seed: 2), scanout: 1)
        try backend.expectVNCMatchesPNG(0, "scanout 0")
        try backend.expectVNCMatchesPNG(1, "scanout 1")
        #expect(try backend.capture(1).width == 80)
    }
}
