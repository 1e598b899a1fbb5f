// TigerVNC's viewer (xtigervncviewer under Xvfb) against the exporter: VNC authentication with a password file,
// and staying connected while the guest changes resolution.
import Display
@testable import DisplayVNC
import Foundation
import RFBTestClient
import VireoTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The vncpasswd file format TigerVNC reads: the password (8 bytes, zero-padded) DES-encrypted with VNC's fixed
/// key (e84ad660c4721ae0 in standard DES bit order).
func vncPasswordFile(_ password: String, at path: String) throws {
    var bytes = Array(password.utf8.prefix(8))
    bytes += [UInt8](repeating: 0, count: 8 - bytes.count)
    try Data(bytes).write(to: URL(fileURLWithPath: path + ".plain"))
    defer { unlink(path + ".plain") }
    let r = runTool("/usr/bin/openssl", ["enc", "-des-ecb", "-K", "e84ad660c4721ae0", "-nopad", "-in", path + ".plain",
                                         "-out", path, "-provider", "legacy", "-provider", "default"])
    guard r.status == 0 else { throw RFBError(description: "openssl: \(r.output)") }
}

extension VNCTests {
    @Suite("TigerVNC viewer", .serialized)
    struct TigerVNCTests {
        @Test("xtigervncviewer connects with a password and stays connected across an alpha cursor and a resize")
        func passwordAndResize() throws {
            guard let viewer = tool("/usr/bin/xtigervncviewer", package: "tigervnc-viewer", for: "passwordAndResize"),
                  let xvfb = tool("/usr/bin/Xvfb", package: "xvfb", for: "passwordAndResize"),
                  tool("/usr/bin/openssl", package: "openssl", for: "passwordAndResize") != nil else { return }
            let library = LibraryLines()
            defer { library.stop() }
            let dir = NSTemporaryDirectory() + "vnc-tiger-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try vncPasswordFile("tiger-pw", at: dir + "/passwd")

            let display = ":\(Int.random(in: 300...900))"
            let xserver = try spawnChild(xvfb, [display, "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                                        stdout: dir + "/xvfb.log", stderr: dir + "/xvfb.log")
            defer { kill(xserver, SIGTERM); _ = waitExit(xserver, timeout: 5) }
            let fixture = try VNCFixture(password: "tiger-pw")
            fixture.show(testPattern(width: 64, height: 48), width: 64, height: 48)
            usleep(500_000)   // Xvfb comes up
            let client = try spawnChild(viewer, ["-passwd", dir + "/passwd", "127.0.0.1::\(fixture.ports[0])"],
                                        environment: ["DISPLAY": display], stdout: dir + "/viewer.log",
                                        stderr: dir + "/viewer.log")
            defer { kill(client, SIGTERM); _ = waitExit(client, timeout: 5) }

            func viewerAlive() -> Bool { var status: Int32 = 0; return waitpid(client, &status, WNOHANG) == 0 }
            let deadline = Date() + 20
            while fixture.servers[0].clientsConnected == 0 && Date() < deadline && viewerAlive() { usleep(50_000) }
            let viewerLog = { (try? String(contentsOfFile: dir + "/viewer.log", encoding: .utf8)) ?? "" }
            try #require(fixture.servers[0].clientsConnected == 1, "the viewer did not connect: \(viewerLog().suffix(400))")
            usleep(500_000)
            #expect(!fixture.log.contains("wrong password"))
            // A cursor with partial alpha: TigerVNC lists Cursor With Alpha (-314) and must take Vireo's message.
            var cursor = [UInt8](repeating: 0, count: 64 * 64 * 4)
            for i in 0..<(16 * 64) { cursor.replaceSubrange(i * 4..<i * 4 + 4, with: [0x40, 0x40, 0x40, 0x80]) }
            fixture.displays.setCursor { c in c.visible = true; c.image = cursor; c.imageSerial = 3; c.x = 10; c.y = 10 }
            let cursorSent = Date() + 10
            while !library.contains("Cursor with alpha 64x64 sent") && Date() < cursorSent { usleep(50_000) }
            #expect(library.contains("Cursor with alpha 64x64 sent"), "TigerVNC was not sent the cursor with alpha")
            usleep(500_000)
            #expect(viewerAlive(), "the viewer exited after the alpha cursor: \(viewerLog().suffix(400))")
            #expect(fixture.servers[0].clientsConnected == 1)

            fixture.show(testPattern(width: 100, height: 60, seed: 4), width: 100, height: 60)
            let resized = Date() + 15
            while !library.contains("(100x60)") && Date() < resized { usleep(50_000) }
            #expect(library.contains("(100x60)"), "no desktop-size message for 100x60 was sent")
            usleep(1_000_000)
            #expect(viewerAlive(), "the viewer exited: \(viewerLog().suffix(400))")
            #expect(fixture.servers[0].clientsConnected == 1)
            #expect(!fixture.log.contains("left scanout"))
        }
    }
}
