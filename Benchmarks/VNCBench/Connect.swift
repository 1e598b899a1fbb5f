// vnc-bench connect: the viewer of scripts/bench-vnc.sh, against any VNC server (Vireo's or QEMU's) showing a
// guest that runs scripts/guest/flip.c. Keeps one FramebufferUpdateRequest outstanding, as real viewers do (the
// next request goes out as soon as an update has arrived), takes the server's own pixel format (each server's
// fast path, the same 4 bytes a pixel on both), and counts complete full-screen updates. With Raw it reads the
// marker stripe flip.c draws on the left edge, so it knows which picture each update shows (and whether one
// update mixes two); Zlib and ZRLE data are skipped by length, so decoding costs nothing on either side.
// Measures, never asserts.
import Foundation
import RFBTestClient
#if canImport(Glibc)
import Glibc
#endif

enum ConnectBench {
    static let usage = "usage: vnc-bench connect HOST:PORT [--seconds S] [--encoding raw|zlib|zrle] [--compress-level 0-9] [--frames-out FILE]"

    /// One complete full-screen update as the viewer got it.
    struct Frame {
        var time: Double            // wall clock (CLOCK_REALTIME), when its last byte was read
        var picture: Int            // flip.c's picture 0...3; -1 unknown (not Raw), -2 two pictures in one update
        var bytes: Int
    }

    static func run(_ arguments: [String]) throws {
        var args = arguments[...]
        guard let address = args.popFirst(), let colon = address.lastIndex(of: ":"),
              let port = Int(address[address.index(after: colon)...]) else { fail(usage) }
        let host = String(address[..<colon])
        var seconds = 10.0, encodingName = "raw", framesOut: String?, compressLevel: Int32?
        while let flag = args.popFirst() {
            guard let value = args.popFirst() else { fail(usage) }
            switch flag {
            case "--seconds": seconds = Double(value) ?? seconds
            case "--encoding": encodingName = value
            case "--frames-out": framesOut = value
            case "--compress-level":
                guard let level = Int32(value), (0...9).contains(level) else { fail(usage) }
                compressLevel = level
            default: fail(usage)
            }
        }
        let encodings: [String: Int32] = ["raw": 0, "zlib": 6, "zrle": 16]
        guard let encoding = encodings[encodingName] else { fail(usage) }

        let client = try RawRFBClient(host: host, port: port, timeout: 30)
        try client.handshake()
        let format = client.pixelFormat
        guard format[0] == 32, format[3] != 0 else { fail("the server's pixel format is not 32 bpp true colour: \(format)") }
        // Without a CompressLevel pseudo-encoding (-256 + level) each server picks its own zlib level.
        try client.setEncodings([encoding] + (compressLevel.map { [-256 + $0] } ?? []))
        let area = client.width * client.height

        // Warm-up: one whole picture, not counted.
        try client.requestUpdate(incremental: false)
        var covered = 0
        while covered < area {
            try client.readUpdate { header, _ in covered += header.encoding == -224 ? 0 : header.width * header.height }
            if covered < area { try client.requestUpdate(incremental: true) }
        }

        var frames: [Frame] = []
        var pictures = Set<Int>()
        var rects = 0
        var frameStart = client.bytesRead
        covered = 0
        let start = now()
        let deadline = start + seconds
        try client.requestUpdate(incremental: true)
        while waitReadable(client.fd, until: deadline) {
            try client.readUpdate { header, pixels in
                if header.encoding == -224 { return }
                covered += header.width * header.height
                rects += 1
                if let pixels, header.x == 0 {
                    for row in [0, header.height / 2, header.height - 1] {
                        pictures.insert(picture(pixels, offset: row * header.width * 4, format: format))
                    }
                }
            }
            try client.requestUpdate(incremental: true)
            if covered >= area {
                let picture = encoding != 0 || pictures.isEmpty ? -1 : pictures.count == 1 ? pictures.first! : -2
                frames.append(Frame(time: now(), picture: picture, bytes: client.bytesRead - frameStart))
                frameStart = client.bytesRead
                covered = 0
                pictures.removeAll()
            }
        }
        let elapsed = now() - start

        var changes = 0
        for (i, f) in frames.enumerated() where f.picture >= 0 && (i == 0 || f.picture != frames[i - 1].picture) {
            changes += 1
        }
        let torn = frames.filter { $0.picture == -2 }.count
        let bytes = frames.isEmpty ? 0 : frames.map(\.bytes).reduce(0, +) / frames.count
        print(String(format: "encoding=%@ level=%@ size=%dx%d frames=%d seconds=%.2f fps=%.2f bytes_per_frame=%d changes_per_s=%@ torn=%d rects_per_frame=%.1f",
                     encodingName, compressLevel.map { String($0) } ?? "default", client.width, client.height, frames.count, elapsed, Double(frames.count) / elapsed,
                     bytes, encoding == 0 ? String(format: "%.2f", Double(changes) / elapsed) : "na", torn,
                     Double(rects) / Double(max(frames.count, 1))))
        if let framesOut {
            let lines = frames.map { String(format: "%.6f %d %d\n", $0.time, $0.picture, $0.bytes) }.joined()
            try lines.write(toFile: framesOut, atomically: true, encoding: .utf8)
        }
    }

    /// flip.c's marker colours, in picture order: red, blue, green, yellow.
    static func picture(_ pixels: UnsafeRawBufferPointer, offset: Int, format: [UInt8]) -> Int {
        let raw = pixels.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        let value = format[2] != 0 ? UInt32(bigEndian: raw) : UInt32(littleEndian: raw)
        func channel(_ maxAt: Int, _ shift: UInt8) -> UInt32 {
            let max = UInt32(format[maxAt]) << 8 | UInt32(format[maxAt + 1])
            return max == 0 ? 0 : (value >> UInt32(shift) & max) * 255 / max
        }
        switch (channel(4, format[10]), channel(6, format[11]), channel(8, format[12])) {
        case (255, 0, 0): return 0
        case (0, 0, 255): return 1
        case (0, 255, 0): return 2
        case (255, 255, 0): return 3
        default: return -1
        }
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// Waits for the server's next message; false when the deadline passes first.
    static func waitReadable(_ fd: Int32, until deadline: Double) -> Bool {
        while true {
            let left = deadline - now()
            if left <= 0 { return false }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&p, 1, Int32(min(left * 1000, 1000)) + 1)
            if rc > 0 { return true }
            if rc < 0 && errno != EINTR { return false }
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(2)
    }
}
