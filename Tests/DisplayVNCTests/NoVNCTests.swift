// noVNC (Debian's package) in headless Chromium connects over the WebSocket port and its canvas shows the guest's
// picture. noVNC asks for Tight with JPEG (quality 6), so the check is on flat colour bars with a tolerance.
import Display
import DisplayCompare
import DisplayPNG
@testable import DisplayVNC
import Foundation
import RFBTestClient
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension VNCTests {
    @Suite("noVNC in headless Chromium", .serialized)
    struct NoVNCTests {
        @Test("noVNC over WebSocket shows the guest's picture")
        func browserShowsPicture() throws {
            guard let chromium = tool("/usr/bin/chromium", package: "chromium", for: "browserShowsPicture") else { return }
            let page = "/usr/share/novnc/vnc_lite.html"
            guard FileManager.default.fileExists(atPath: page) else {
                print("SKIP browserShowsPicture: \(page) is missing (Debian package novnc)")
                return
            }
            let fixture = try VNCFixture(websocket: true)
            let pixels = colourBars(width: 160, height: 100)
            fixture.show(pixels, width: 160, height: 100)
            let dir = NSTemporaryDirectory() + "vnc-novnc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let port = fixture.servers[0].configuration.websocketPort
            let needle = PixelImage(width: 160, height: 100, rgba: rgba(fromBGRX: pixels))
            // The page connects asynchronously (real time, not virtual: the data comes over the network): a few tries,
            // each a fresh browser that waits longer before its screenshot.
            var found: TemplateMatch?
            var last = ""
            for budget in [3000, 6000, 10000, 10000, 15000] where found == nil {
                let shot = dir + "/page.png"
                unlink(shot)
                let r = runTool(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                                           "--user-data-dir=\(dir)/profile", "--window-size=480,320",
                                           "--timeout=\(budget)", "--screenshot=\(shot)",
                                           "file://\(page)?host=127.0.0.1&port=\(port)"], timeout: 90)
                last = String(r.output.suffix(300))
                guard let data = try? Data(contentsOf: URL(fileURLWithPath: shot)) else { continue }
                let image = try PNGDecoder.decodeRGBA([UInt8](data), maxPixels: 1 << 22)
                let screen = PixelImage(width: Int(image.width), height: Int(image.height), rgba: image.rgba)
                found = try TemplateSearch.find(needle, in: screen,
                                                tolerance: Tolerance(channelDelta: 24, maxDifferingFraction: 0.02))
                if found == nil {   // kept for a person to look at
                    let kept = NSTemporaryDirectory() + "vireo-novnc-last.png"
                    unlink(kept)
                    try? FileManager.default.copyItem(atPath: shot, toPath: kept)
                    last = "screenshot kept at \(kept); chromium: \(last)"
                }
            }
            #expect(found != nil, "the guest's picture is not in the page's screenshot; \(last)")
        }
    }
}
