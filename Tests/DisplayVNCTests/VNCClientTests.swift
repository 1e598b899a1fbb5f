// The VNC exporter against real clients (gvnccapture, vncsnapshot) and a raw RFB client: pixel-exact pictures,
// damage-only updates, resizes, blank screens, two scanouts, the cursor, input and QEMU's extended key event.
import Display
@testable import DisplayVNC
import Foundation
import RFBTestClient
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension VNCTests {
    @Suite("VNC export with real clients", .serialized)
    struct VNCClientTests {
        @Test("gvnccapture's picture is the guest's frame, pixel-exact")
        func gvnccapturePixelExact() throws {
            guard tool("/usr/bin/gvnccapture", package: "gvncviewer", for: "gvnccapturePixelExact") != nil else { return }
            let fixture = try VNCFixture()
            let pixels = testPattern(width: 64, height: 48, seed: 5)
            fixture.show(pixels, width: 64, height: 48)
            expectSamePicture(try gvnccapture(port: fixture.ports[0]), Capture(width: 64, height: 48, rgba: rgba(fromBGRX: pixels)),
                              "gvnccapture")
        }

        @Test("A new scanout size reaches clients; a disabled scanout and a gone guest show a blank screen")
        func resizeAndBlank() throws {
            guard tool("/usr/bin/gvnccapture", package: "gvncviewer", for: "resizeAndBlank") != nil else { return }
            let fixture = try VNCFixture()
            fixture.show(testPattern(width: 64, height: 48), width: 64, height: 48)
            // A raw client that announced DesktopSize stays connected across the resize and learns the new size.
            let viewer = try RawRFBClient(port: fixture.ports[0])
            try viewer.handshake()
            try viewer.setEncodings([0, -223])
            _ = try viewer.readPicture()

            let bigger = testPattern(width: 100, height: 60, seed: 9)
            fixture.show(bigger, width: 100, height: 60)
            try viewer.requestUpdate(incremental: true)
            var sawResize = false
            for _ in 0..<5 where !sawResize {
                sawResize = try viewer.readUpdate().contains { $0.encoding == -223 && $0.width == 100 && $0.height == 60 }
                if !sawResize { try viewer.requestUpdate(incremental: true) }
            }
            #expect(sawResize)
            #expect(try viewer.readPicture() == rgbx(fromBGRX: bigger), "raw client after the resize")
            expectSamePicture(try gvnccapture(port: fixture.ports[0]), Capture(width: 100, height: 60, rgba: rgba(fromBGRX: bigger)),
                              "after the resize")

            fixture.displays.disable(0)
            fixture.waitMirrored()
            expectSamePicture(try gvnccapture(port: fixture.ports[0]),
                              Capture(width: 100, height: 60, rgba: rgba(fromBGRX: [UInt8](repeating: 0, count: 100 * 60 * 4))),
                              "disabled scanout")

            fixture.show(bigger, width: 100, height: 60)
            expectSamePicture(try gvnccapture(port: fixture.ports[0]), Capture(width: 100, height: 60, rgba: rgba(fromBGRX: bigger)),
                              "enabled again")
            fixture.source.set(nil)   // the guest disconnects
            let deadline = Date() + 10
            var gone = try gvnccapture(port: fixture.ports[0])
            while gone.rgba.enumerated().contains(where: { $0.offset % 4 != 3 && $0.element != 0 }) && Date() < deadline {
                usleep(100_000)
                gone = try gvnccapture(port: fixture.ports[0])
            }
            expectSamePicture(gone, Capture(width: gone.width, height: gone.height,
                                            rgba: rgba(fromBGRX: [UInt8](repeating: 0, count: gone.width * gone.height * 4))),
                              "no guest")
        }

        @Test("Two scanouts: each port shows its own scanout")
        func twoScanouts() throws {
            guard tool("/usr/bin/gvnccapture", package: "gvncviewer", for: "twoScanouts") != nil else { return }
            let fixture = try VNCFixture(scanouts: 2)
            let first = testPattern(width: 64, height: 48, seed: 1)
            let second = testPattern(width: 80, height: 32, seed: 2)
            fixture.show(first, width: 64, height: 48, scanout: 0)
            fixture.show(second, width: 80, height: 32, scanout: 1)
            expectSamePicture(try gvnccapture(port: fixture.ports[0]), Capture(width: 64, height: 48, rgba: rgba(fromBGRX: first)), "scanout 0")
            expectSamePicture(try gvnccapture(port: fixture.ports[1]), Capture(width: 80, height: 32, rgba: rgba(fromBGRX: second)), "scanout 1")
        }

        @Test("Only the flushed rectangle is sent; several flushes before a request coalesce into the newest pixels")
        func damageDriven() throws {
            let fixture = try VNCFixture()
            var pixels = testPattern(width: 64, height: 48)
            fixture.show(pixels, width: 64, height: 48)
            let viewer = try rawViewer(fixture, firstPicture: pixels)

            // Three flushes of one small rectangle while the viewer is not asking: one update with the last pixels.
            let damage = Rect(x: 8, y: 4, width: 10, height: 6)
            for round in 1...3 {
                for y in 4..<10 { for x in 8..<18 { pixels[(y * 64 + x) * 4] = UInt8(round * 40) } }
                fixture.flush(pixels, damage)
            }
            try viewer.requestUpdate(incremental: true)
            let rects = try viewer.readUpdate().filter { $0.encoding == 0 }
            #expect(rects.count >= 1)
            for rect in rects {
                #expect(rect.x >= 8 && rect.y >= 4 && rect.x + rect.width <= 18 && rect.y + rect.height <= 10, "\(rect.x),\(rect.y) \(rect.width)x\(rect.height)")
            }
            #expect(rects.reduce(0) { $0 + $1.width * $1.height } == 60)
            #expect(rects.allSatisfy { $0.payload[2] == 120 })   // blue of the third flush (R,G,B,X on the wire)

            // Two small changes in opposite corners come as two small rectangles, not the box between them.
            for (x, y) in [(0, 0), (60, 44)] { pixels[(y * 64 + x) * 4 + 1] = 0x77 }
            fixture.flush(pixels, Rect(x: 0, y: 0, width: 1, height: 1))
            fixture.flush(pixels, Rect(x: 60, y: 44, width: 1, height: 1))
            try viewer.requestUpdate(incremental: true)
            let corners = try viewer.readUpdate().filter { $0.encoding == 0 }
            #expect(corners.reduce(0) { $0 + $1.width * $1.height } == 2, "\(corners.map { "\($0.x),\($0.y) \($0.width)x\($0.height)" })")
        }

        @Test("A flush that repeats what viewers have sends nothing; a change inside a big flush sends its box only")
        func unchangedPixelsNotSent() throws {
            let fixture = try VNCFixture()
            var pixels = testPattern(width: 64, height: 48)
            fixture.show(pixels, width: 64, height: 48)
            let viewer = try rawViewer(fixture, firstPicture: pixels)

            // The same picture flushed whole again (a page flip: SET_SCANOUT, then RESOURCE_FLUSH of it): no update.
            let whole = Rect(x: 0, y: 0, width: 64, height: 48)
            fixture.flush(pixels, whole)
            try viewer.requestUpdate(incremental: true)
            viewer.setTimeout(0.5)
            #expect(throws: RFBError.self, "an update for unchanged pixels") { try viewer.readUpdate() }
            viewer.setTimeout(10)

            // Two pixels changed, flushed as the whole frame: the request still outstanding gets their box alone.
            pixels[(20 * 64 + 30) * 4] ^= 0xff
            pixels[(22 * 64 + 33) * 4 + 1] ^= 0xff
            fixture.flush(pixels, whole)
            let rects = try viewer.readUpdate().filter { $0.encoding == 0 }
            #expect(rects.map { [$0.x, $0.y, $0.width, $0.height] } == [[30, 20, 4, 3]])
        }

        @Test("Full-screen updates never mix two flushes: copies wait for the sends in progress")
        func updatesNotTorn() throws {
            // A long wait: a loaded test machine must not make the bounded wait run out.
            let fixture = try VNCFixture(configure: { $0.sendWaitMilliseconds = 5000 })
            let (width, height) = (1920, 1080)
            let pictures = [UInt8(0x20), 0xd0].map { [UInt8](repeating: $0, count: width * height * 4) }
            fixture.show(pictures[0], width: width, height: height)
            let viewer = try RawRFBClient(port: fixture.ports[0], timeout: 30)
            try viewer.handshake()
            try viewer.setEncodings([0])
            _ = try viewer.readPicture()

            // The guest flips between two flat pictures ~200 times a second while the viewer reads updates.
            let displays = fixture.displays
            let stop = StopFlag()
            let flipper = Thread {
                var i = 0
                while !stop.isSet {
                    i += 1
                    displays.update(0, damage: Rect(x: 0, y: 0, width: UInt32(width), height: UInt32(height))) { buffer, _ in
                        pictures[i % 2].withUnsafeBytes { buffer.copyMemory(from: $0) }
                    }
                    usleep(4000)   // room for the pump to take the DisplaySet's lock
                }
            }
            flipper.start()
            defer { stop.set() }
            var updates = 0, mixed = 0
            let deadline = Date() + 3
            while Date() < deadline {
                try viewer.requestUpdate(incremental: true)
                for rect in try viewer.readUpdate() where rect.encoding == 0 {
                    updates += 1
                    if Set(stride(from: 0, to: rect.payload.count, by: 4 * 1024).map { rect.payload[$0] }).count > 1 { mixed += 1 }
                }
            }
            #expect(updates > 3)
            #expect(mixed == 0, "\(mixed) of \(updates) updates mix two pictures")
        }

        @Test("vncsnapshot (JPEG) shows the flat colours of the guest's picture")
        func vncsnapshotFlatColours() throws {
            guard let snapshot = tool("/usr/bin/vncsnapshot", package: "vncsnapshot", for: "vncsnapshotFlatColours"),
                  let topnm = tool("/usr/bin/jpegtopnm", package: "netpbm", for: "vncsnapshotFlatColours") else { return }
            let fixture = try VNCFixture()
            let bars = colourBars(width: 64, height: 48)
            fixture.show(bars, width: 64, height: 48)
            let base = NSTemporaryDirectory() + "vnc-snap-\(getpid())"
            defer { unlink(base + ".jpg"); unlink(base + ".ppm") }
            let shot = runTool(snapshot, ["-quiet", "-allowblank", "127.0.0.1::\(fixture.ports[0])", base + ".jpg"])
            #expect(shot.status == 0, "\(shot.output)")
            let convert = runTool("/bin/sh", ["-c", "\(topnm) '\(base).jpg' > '\(base).ppm'"])
            #expect(convert.status == 0, "\(convert.output)")
            let ppm = [UInt8](try Data(contentsOf: URL(fileURLWithPath: base + ".ppm")))
            let header = String(decoding: ppm.prefix(15), as: UTF8.self)
            #expect(header.hasPrefix("P6\n64 48\n255\n"), "\(header)")
            let body = Array(ppm.dropFirst(13))
            // The middle of each bar: red, green, blue, white (JPEG: within a few levels).
            for (bar, expected) in [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]].enumerated() {
                let x = bar * 16 + 8, y = 24
                let i = (y * 64 + x) * 3
                for c in 0..<3 { #expect(abs(Int(body[i + c]) - expected[c]) <= 12, "bar \(bar) channel \(c): \(body[i + c])") }
            }
        }

        @Test("Keyboard, pointer and clipboard reach the input sink; QEMU's extended key event is acknowledged and decoded")
        func inputAndExtendedKeys() throws {
            let fixture = try VNCFixture()
            fixture.show(testPattern(width: 64, height: 48), width: 64, height: 48)
            let viewer = try RawRFBClient(port: fixture.ports[0])
            try viewer.handshake()
            try viewer.setEncodings([0, -258])
            #expect(try viewer.readUpdate().contains { $0.encoding == -258 })   // the acknowledgement pseudo-rect
            try viewer.send([4, 1, 0, 0, 0, 0, 0, 0x61])                        // KeyEvent down 'a'
            try viewer.send([5, 0b101, 0, 10, 0, 20])                           // PointerEvent left+right at 10,20
            try viewer.send([6, 0, 0, 0, 0, 0, 0, 3] + Array("hé!".data(using: .isoLatin1)!))
            // QEMU extended key event: down, keysym Control_R, scancode 0x9d (0xe0 0x1d on the wire as 0x80|0x1d).
            try viewer.send([255, 0, 0, 1, 0, 0, 0xff, 0xe4, 0, 0, 0, 0x9d])
            try viewer.send([255, 0, 0, 0, 0, 0, 0, 0x61, 0, 0, 0, 0x1e])       // up, 'a', scancode 0x1e
            let deadline = Date() + 10
            while fixture.input.all.count < 5 && Date() < deadline { usleep(10_000) }
            #expect(fixture.input.all == ["key 61 true", "pointer 0 10,20 in 64x48 buttons 5", "clipboard hé!",
                                          "scancode e01d ffe4 true", "scancode 1e 61 false"])
        }

        @Test("A viewer that leaves with keys and a button held has them released in the guest")
        func releasesHeldInputOnDisconnect() throws {
            let fixture = try VNCFixture()
            fixture.show(testPattern(width: 64, height: 48), width: 64, height: 48)
            do {
                let viewer = try RawRFBClient(port: fixture.ports[0])
                try viewer.handshake()
                try viewer.setEncodings([0, -258])
                _ = try viewer.readUpdate()
                try viewer.send([4, 1, 0, 0, 0, 0, 0xff, 0xe3])                     // Control_L down (held)
                try viewer.send([4, 1, 0, 0, 0, 0, 0, 0x62])                        // 'b' down
                try viewer.send([4, 0, 0, 0, 0, 0, 0, 0x62])                        // 'b' up
                try viewer.send([255, 0, 0, 1, 0, 0, 0xff, 0xe9, 0, 0, 0, 0x38])   // Alt_L down by scancode (held)
                try viewer.send([5, 1, 0, 30, 0, 40])                               // left button down (held)
                let deadline = Date() + 10
                while fixture.input.all.count < 5 && Date() < deadline { usleep(10_000) }
            }   // the viewer's socket closes here
            let deadline = Date() + 10
            while fixture.input.all.count < 8 && Date() < deadline { usleep(10_000) }
            let after = Array(fixture.input.all.dropFirst(5))
            #expect(Set(after) == ["scancode 38 ffe9 false", "key ffe3 false", "pointer 0 30,40 in 64x48 buttons 0"],
                    "\(fixture.input.all)")
            #expect(!after.contains("key 62 false"), "keys already released are not released again")
        }

        @Test("The guest cursor: a rich cursor for clients that take one, composited for clients that do not")
        func cursor() throws {
            let fixture = try VNCFixture()
            let background = [UInt8](repeating: 0x20, count: 64 * 48 * 4)
            fixture.show(background, width: 64, height: 48)
            // 64x64: an opaque magenta 8x8 square at the top left, transparent elsewhere; hotspot (2, 3).
            var image = [UInt8](repeating: 0, count: 64 * 64 * 4)
            for y in 0..<8 { for x in 0..<8 { image.replaceSubrange((y * 64 + x) * 4..<(y * 64 + x) * 4 + 4, with: [255, 0, 255, 255]) } }
            fixture.displays.setCursor { c in
                c.visible = true; c.image = image; c.imageSerial = 1; c.hotX = 2; c.hotY = 3; c.x = 20; c.y = 10
            }
            fixture.waitMirrored()
            usleep(300_000)   // the pump takes the cursor on its next pass

            let rich = try RawRFBClient(port: fixture.ports[0])
            try rich.handshake()
            try rich.setEncodings([0, -239])
            try rich.requestUpdate(incremental: false)
            var cursorRect: RawRFBClient.UpdateRect?
            for _ in 0..<3 where cursorRect == nil {
                cursorRect = try rich.readUpdate().first { $0.encoding == -239 }
                if cursorRect == nil { try rich.requestUpdate(incremental: true) }
            }
            let shape = try #require(cursorRect)
            #expect(shape.width == 64 && shape.height == 64 && shape.x == 2 && shape.y == 3)
            #expect(Array(shape.payload[0..<3]) == [255, 0, 255])            // R,G,B,X of the first pixel
            #expect(shape.payload[64 * 64 * 4] == 0xff)                         // mask: the first 8 pixels opaque
            #expect(shape.payload[64 * 64 * 4 + 1] == 0)
            let richPicture = try rich.readPicture()
            #expect(richPicture == rgbx(fromBGRX: background), "the cursor is not painted into a rich-cursor client's pixels")

            let plain = try RawRFBClient(port: fixture.ports[0])
            try plain.handshake()
            try plain.setEncodings([0])
            let picture = try plain.readPicture()
            let at = { (x: Int, y: Int) in Array(picture[(y * 64 + x) * 4..<(y * 64 + x) * 4 + 3]) }
            #expect(at(18, 7) == [255, 0, 255])      // 20-2, 10-3: the cursor's top left, composited
            #expect(at(25, 14) == [255, 0, 255])
            #expect(at(26, 15) == [0x20, 0x20, 0x20])
            #expect(at(5, 5) == [0x20, 0x20, 0x20])
        }

        @Test("Cursor With Alpha (-314): a client that lists it gets the cursor's 8-bit alpha; others never see -314")
        func cursorWithAlpha() throws {
            let fixture = try VNCFixture()
            fixture.show([UInt8](repeating: 0x20, count: 64 * 48 * 4), width: 64, height: 48)
            // B,G,R,A premultiplied: a half-transparent shadow ramp under an opaque square.
            var image = [UInt8](repeating: 0, count: 64 * 64 * 4)
            for y in 0..<16 {
                for x in 0..<16 {
                    let a = UInt8(x < 8 && y < 8 ? 255 : 16 * (x + y) / 2)
                    image.replaceSubrange((y * 64 + x) * 4..<(y * 64 + x) * 4 + 4, with: [a / 2, a / 4, a, a])
                }
            }
            fixture.displays.setCursor { c in
                c.visible = true; c.image = image; c.imageSerial = 7; c.hotX = 4; c.hotY = 5; c.x = 20; c.y = 10
            }
            fixture.waitMirrored()
            usleep(300_000)   // the pump takes the cursor on its next pass

            func cursorRects(_ encodings: [Int32]) throws -> [RawRFBClient.UpdateRect] {
                let viewer = try RawRFBClient(port: fixture.ports[0])
                try viewer.handshake()
                try viewer.setEncodings(encodings)
                try viewer.requestUpdate(incremental: false)
                var rects: [RawRFBClient.UpdateRect] = []
                // The alpha cursor follows the update that carried the rich cursor, as a message of its own.
                for _ in 0..<4 where !rects.contains(where: { $0.encoding == -314 }) {
                    viewer.setTimeout(1)
                    guard let update = try? viewer.readUpdate() else { break }
                    rects += update.filter { $0.encoding < 0 }
                    try viewer.requestUpdate(incremental: true)
                }
                return rects
            }
            let alpha = try cursorRects([0, -239, -314])
            let shape = try #require(alpha.last { $0.encoding == -314 }, "no -314 rectangle: \(alpha.map(\.encoding))")
            #expect(shape.x == 4 && shape.y == 5 && shape.width == 64 && shape.height == 64)
            #expect(shape.payload == image, "the guest's B,G,R,A cursor bytes, alpha intact")
            let richFirst = alpha.firstIndex { $0.encoding == -239 }, alphaLast = alpha.lastIndex { $0.encoding == -314 }
            #expect(richFirst != nil && alphaLast != nil && richFirst! < alphaLast!, "the alpha cursor comes after the rich one")

            let richOnly = try cursorRects([0, -239])
            #expect(richOnly.contains { $0.encoding == -239 })
            #expect(!richOnly.contains { $0.encoding == -314 })
        }

        @Test("A new cursor shape reaches a viewer whose update request is already waiting, with no pixel change")
        func cursorChangeWakesWaitingViewer() throws {
            let fixture = try VNCFixture()
            fixture.show([UInt8](repeating: 0x20, count: 64 * 48 * 4), width: 64, height: 48)
            let viewer = try RawRFBClient(port: fixture.ports[0])
            try viewer.handshake()
            try viewer.setEncodings([0, -239, -314])
            _ = try viewer.readPicture()
            try viewer.requestUpdate(incremental: true)    // waits: nothing changes on screen
            usleep(200_000)
            let image = [UInt8](repeating: 0xff, count: 64 * 64 * 4)
            fixture.displays.setCursor { c in c.visible = true; c.image = image; c.imageSerial = 9; c.x = 3; c.y = 3 }
            viewer.setTimeout(3)
            // (The first -314 may be the empty cursor that followed the first picture.)
            var shapes: [(encoding: Int32, width: Int)] = []
            while !shapes.contains(where: { $0 == (-314, 64) }), let update = try? viewer.readUpdate() {
                shapes += update.filter { $0.encoding < 0 }.map { ($0.encoding, $0.width) }
            }
            #expect(shapes.contains { $0 == (-239, 64) }, "no rich cursor within 3 s: \(shapes)")
            #expect(shapes.contains { $0 == (-314, 64) }, "no cursor with alpha within 3 s: \(shapes)")
        }

        @Test("Zlib without a CompressLevel from the viewer is level 9, as QEMU's server; an asked level wins")
        func zlibDefaultLevel() throws {
            let fixture = try VNCFixture()
            // Text-like rows: a few colours in runs whose lengths vary, where zlib's levels find different matches.
            var picture = [UInt8](repeating: 0, count: 512 * 256 * 4)
            var state: UInt32 = 12345
            var i = 0
            while i < picture.count {
                state = state &* 1_103_515_245 &+ 12345
                let run = Int(state >> 28) + 1, colour = UInt8((state >> 20) & 3) * 70
                for _ in 0..<run where i < picture.count {
                    picture[i] = colour; picture[i + 1] = colour / 2; picture[i + 2] = 255 - colour; i += 4
                }
            }
            fixture.show(picture, width: 512, height: 256)
            func zlibBytes(_ extra: [Int32]) throws -> Int {
                let viewer = try RawRFBClient(port: fixture.ports[0])
                try viewer.handshake()
                try viewer.setEncodings([6] + extra)
                let before = viewer.bytesRead
                try viewer.requestUpdate(incremental: false)
                _ = try viewer.readUpdate()
                return viewer.bytesRead - before
            }
            let unasked = try zlibBytes([]), nine = try zlibBytes([-247]), one = try zlibBytes([-255])
            #expect(unasked == nine, "no level asked: \(unasked) bytes, level 9: \(nine)")
            #expect(one != nine, "level 1 (\(one) bytes) should differ from level 9 (\(nine))")
        }

        @Test("Cursor compositing for some viewers while the guest draws and moves the cursor leaves no ghost or stale pixels")
        func compositingUnderLoad() throws {
            let fixture = try VNCFixture()
            // Large enough that sends take a while, so composited sends overlap each other and the mirror's copies.
            let width = 320, height = 240
            func frame(_ n: Int) -> [UInt8] { testPattern(width: width, height: height, seed: UInt8(truncatingIfNeeded: n * 13)) }
            fixture.show(frame(0), width: width, height: height)
            var image = [UInt8](repeating: 0, count: 64 * 64 * 4)
            for y in 0..<16 { for x in 0..<16 { image.replaceSubrange((y * 64 + x) * 4..<(y * 64 + x) * 4 + 4, with: [0, 255, 255, 200]) } }
            fixture.displays.setCursor { c in c.visible = true; c.image = image; c.imageSerial = 1; c.x = 5; c.y = 5 }

            // Two viewers without cursor encodings and one with, all asking for updates as fast as they can.
            let stop = StopFlag()
            let rich = try RawRFBClient(port: fixture.ports[0])
            try rich.handshake()
            try rich.setEncodings([0, -239])
            var richPicture = try rich.readPicture()
            let plains = try (0..<2).map { _ in try RawRFBClient(port: fixture.ports[0]) }
            let readers = plains.map { client in
                Thread {
                    guard (try? client.handshake()) != nil, (try? client.setEncodings([0])) != nil else { return }
                    while !stop.isSet {
                        guard (try? client.requestUpdate(incremental: false)) != nil, (try? client.readUpdate()) != nil else { return }
                    }
                }
            }
            readers.forEach { $0.start() }
            for step in 1...60 {
                fixture.flush(frame(step), Rect(x: 0, y: 0, width: UInt32(width), height: UInt32(height)))
                fixture.displays.setCursor { c in c.x = UInt32(5 + 3 * step); c.y = UInt32(5 + step) }
                try rich.requestUpdate(incremental: true)
                rich.apply(try rich.readUpdate(), to: &richPicture)
            }
            stop.set()
            usleep(500_000)   // the pump repairs after the last composited sends
            let expected = rgbx(fromBGRX: frame(60))
            // The long-lived viewer with a cursor shape catches up with the guest's frame, no cursor in its pixels.
            rich.setTimeout(1)
            var tries = 0
            while richPicture != expected && tries < 20 {
                try rich.requestUpdate(incremental: true)
                guard let rects = try? rich.readUpdate() else { break }
                rich.apply(rects, to: &richPicture)
                tries += 1
            }
            #expect(richPicture == expected, "the cursor-shape viewer's picture differs from the guest's frame")
            // A new viewer with a cursor shape reads the shared framebuffer: exactly the guest's frame.
            let fresh = try RawRFBClient(port: fixture.ports[0])
            try fresh.handshake()
            try fresh.setEncodings([0, -239])
            #expect(try fresh.readPicture() == expected, "the shared framebuffer differs from the guest's frame")
        }

        @Test("SetDesktopSize: refused as prohibited without a resize handler; passed to the handler when there is one")
        func remoteResize() throws {
            // SetDesktopSize 200x100 with one screen (id 1 at 0,0).
            let request: [UInt8] = [251, 0, 0, 200, 0, 100, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 200, 0, 100, 0, 0, 0, 0]
            let plain = try VNCFixture()
            plain.show(testPattern(width: 64, height: 48), width: 64, height: 48)
            let viewer = try RawRFBClient(port: plain.ports[0])
            try viewer.handshake()
            try viewer.setEncodings([0, -308])
            _ = try viewer.readPicture()
            try viewer.send(request)
            try viewer.requestUpdate(incremental: true)
            var answer: RawRFBClient.UpdateRect?
            for _ in 0..<5 where answer == nil {
                answer = try viewer.readUpdate().first { $0.encoding == -308 && $0.x == 1 }   // x: a client asked
                if answer == nil { try viewer.requestUpdate(incremental: true) }
            }
            #expect(answer?.y == 1, "ExtendedDesktopSize status \(String(describing: answer?.y)), expected 1 (prohibited)")

            let asked = Mutex<[String]>([])
            let handled = try VNCFixture(resizeRequest: { scanout, width, height in
                asked.withLock { $0.append("\(scanout) \(width)x\(height)") }
                return nil
            })
            handled.show(testPattern(width: 64, height: 48), width: 64, height: 48)
            let other = try RawRFBClient(port: handled.ports[0])
            try other.handshake()
            try other.setEncodings([0, -308])
            _ = try other.readPicture()
            try other.send(request)
            let deadline = Date() + 10
            while asked.withLock({ $0.isEmpty }) && Date() < deadline { usleep(10_000) }
            #expect(asked.withLock { $0 } == ["0 200x100"])
        }

        @Test("WebSocket port: the RFB greeting comes over a WebSocket upgrade")
        func webSocketUpgrade() throws {
            let fixture = try VNCFixture(websocket: true)
            fixture.show(testPattern(width: 64, height: 48), width: 64, height: 48)
            let client = try RawRFBClient(port: fixture.servers[0].configuration.websocketPort)
            try client.send(Array(("GET /websockify HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                   + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                                   + "Sec-WebSocket-Protocol: binary\r\nOrigin: http://127.0.0.1\r\n\r\n").utf8))
            var response = [UInt8]()
            while !response.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)) { response += try client.read(1) }
            let text = String(decoding: response, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 101"), "\(text)")
            #expect(text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
            let frame = try client.read(2)                                     // a binary frame with the RFB greeting
            #expect(frame[0] & 0x0f == 2 && Int(frame[1] & 0x7f) == 12)
            #expect(try client.read(12).starts(with: Array("RFB 003.".utf8)))
        }
    }
}

extension VNCTests {
    @Suite("VNC WebSocket over TLS", .serialized)
    struct VNCTLSTests {
        @Test("wss: with a certificate and key, a TLS WebSocket client gets the upgrade and the RFB greeting")
        func webSocketOverTLS() throws {
            guard let openssl = tool("/usr/bin/openssl", package: "openssl", for: "webSocketOverTLS"),
                  let curl = tool("/usr/bin/curl", package: "curl", for: "webSocketOverTLS") else { return }
            let dir = NSTemporaryDirectory() + "vnc-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let made = runTool(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/key.pem",
                                         "-out", dir + "/cert.pem", "-days", "2", "-subj", "/CN=localhost"])
            try #require(made.status == 0, "\(made.output)")
            let fixture = try VNCFixture(websocket: true) {
                $0.tlsCertificatePath = dir + "/cert.pem"
                $0.tlsKeyPath = dir + "/key.pem"
            }
            fixture.show(testPattern(width: 64, height: 48), width: 64, height: 48)
            let port = fixture.servers[0].configuration.websocketPort
            // curl keeps the upgraded connection open: it is stopped by --max-time after the greeting arrived.
            _ = runTool(curl, ["-sk", "-i", "-N", "--http1.1", "--max-time", "3", "-o", dir + "/out",
                               "-H", "Origin: https://127.0.0.1", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
                               "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "-H", "Sec-WebSocket-Version: 13",
                               "-H", "Sec-WebSocket-Protocol: binary", "https://127.0.0.1:\(port)/websockify"])
            let out = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: dir + "/out"))) ?? Data(), as: UTF8.self)
            #expect(out.hasPrefix("HTTP/1.1 101"), "\(out.prefix(200))")
            #expect(out.contains("RFB 003.008"))
            // The RFB port answers plain RFB as before.
            let plain = try RawRFBClient(port: fixture.ports[0])
            try plain.handshake()
            #expect(plain.width == 64)
        }
    }
}

/// Tells reader threads to finish.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// BGRX -> R,G,B,X with X = 0xff, as the server's pixel format puts it on the wire.
func rgbx(fromBGRX p: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0xff, count: p.count)
    for i in stride(from: 0, to: p.count, by: 4) { out[i] = p[i + 2]; out[i + 1] = p[i + 1]; out[i + 2] = p[i] }
    return out
}
