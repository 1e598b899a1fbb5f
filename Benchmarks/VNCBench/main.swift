// vnc-bench: what a VNC viewer gets from Vireo's exporter for full-screen changes: frames/s, bytes per frame and
// the latency from the guest's flush to the viewer having the whole update. A DisplaySet plays the GPU (one full
// 1920x1080 flush per frame, alternating two pictures so every frame changes every pixel), a raw RFB client plays
// the viewer (Raw and ZRLE; it skips ZRLE's data by its length, so client decoding costs nothing here).
// Measures, never asserts. Usage: vnc-bench [frames] [width] [height]
// `vnc-bench connect HOST:PORT ...` is the viewer against a running server instead (Connect.swift).
import Display
import DisplayVNC
import Foundation
import Logging
import RFBTestClient
#if canImport(Glibc)
import Glibc
#endif

if CommandLine.arguments.dropFirst().first == "connect" {
    try ConnectBench.run(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let frames = arguments.count > 0 ? arguments[0] : 60
let width = arguments.count > 1 ? arguments[1] : 1920
let height = arguments.count > 2 ? arguments[2] : 1080

/// A desktop-like picture: flat background, a title bar, windows, and lines of "text" (short dark runs).
func desktop(variant: Int) -> [UInt8] {
    var p = [UInt8](repeating: 0, count: width * height * 4)
    for y in 0..<height {
        for x in 0..<width {
            var c: (UInt8, UInt8, UInt8) = variant == 0 ? (0x60, 0x40, 0x30) : (0x30, 0x50, 0x70)
            // Every colour differs between the variants: the exporter sends only pixels that changed.
            if y < 28 { c = variant == 0 ? (0x20, 0x20, 0x20) : (0x38, 0x38, 0x38) }
            let inWindow = x > 200 + variant * 40 && x < width - 300 && y > 120 && y < height - 140
            if inWindow {
                c = variant == 0 ? (0xf0, 0xf0, 0xf0) : (0xe4, 0xe8, 0xec)
                if (y / 18) % 2 == 0 && (y % 18) < 12 && ((x * 7 + y * 3 + variant * 11) % 23) < 14 {
                    c = variant == 0 ? (0x10, 0x10, 0x10) : (0x10, 0x20, 0x40)
                }
            }
            let i = (y * width + x) * 4
            p[i] = c.0; p[i + 1] = c.1; p[i + 2] = c.2; p[i + 3] = 0xff
        }
    }
    return p
}

func noise() -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: width * height * 4)
    let fd = open("/dev/urandom", O_RDONLY)
    defer { close(fd) }
    var got = 0
    while got < bytes.count {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, $0.count - got) }
        if n <= 0 { break }
        got += n
    }
    return bytes
}

struct NoInput: InputSink {
    func keysym(_ keysym: UInt32, down: Bool) {}
    func scancode(_ scancode: UInt32, keysym: UInt32, down: Bool) {}
    func pointer(scanout: Int, x: Int, y: Int, width: Int, height: Int, buttons: UInt8) {}
    func clipboardText(_ text: String) {}
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func run(encoding: Int32, name: String, pictures: [[UInt8]], label: String) throws {
    let displays = DisplaySet(modes: [DisplayMode(enabled: true, width: UInt32(width), height: UInt32(height))])
    let port = Int.random(in: 20000...40000)
    var configuration = VNCConfiguration(host: "127.0.0.1", port: port)
    configuration.blankWidth = UInt32(width)
    configuration.blankHeight = UInt32(height)
    var logger = Logger(label: "vnc-bench")
    logger.logLevel = .critical
    let server = try VNCServer(scanout: 0, configuration: configuration, input: NoInput(), logger: logger,
                               displays: { displays })
    try server.start()
    defer { server.stop() }
    let full = Rect(x: 0, y: 0, width: UInt32(width), height: UInt32(height))
    func flush(_ picture: [UInt8]) {
        displays.update(0, damage: full) { buffer, _ in picture.withUnsafeBytes { buffer.copyMemory(from: $0) } }
    }
    displays.enable(0, width: UInt32(width), height: UInt32(height))
    flush(pictures[0])
    let client = try RawRFBClient(port: port, timeout: 30)
    try client.handshake()
    try client.setEncodings([encoding])
    _ = try client.readPicture()

    var latencies: [Double] = []
    var flushTimes: [Double] = []
    let bytesBefore = client.bytesRead
    let started = Date()
    for frame in 1...frames {
        // The viewer asks first (as real viewers keep one request outstanding), then the guest flushes.
        try client.requestUpdate(incremental: true)
        let flushed = Date()
        flush(pictures[frame % pictures.count])
        flushTimes.append(Date().timeIntervalSince(flushed))
        var covered = 0
        while covered < width * height {
            covered += try client.readUpdate().filter { $0.encoding >= 0 }.reduce(0) { $0 + $1.width * $1.height }
            if covered < width * height { try client.requestUpdate(incremental: true) }
        }
        latencies.append(Date().timeIntervalSince(flushed))
    }
    let elapsed = Date().timeIntervalSince(started)
    let bytes = Double(client.bytesRead - bytesBefore) / Double(frames)
    print(String(format: "%@ %@ %dx%d: %.1f frames/s, %.0f KiB/frame, flush-to-viewer latency median %.1f ms (max %.1f), guest flush median %.2f ms",
                 label, name, width, height, Double(frames) / elapsed, bytes / 1024, median(latencies) * 1000,
                 latencies.max()! * 1000, median(flushTimes) * 1000))
}

let desktops = [desktop(variant: 0), desktop(variant: 1)]
let noisy = [noise(), noise()]
for (encoding, name) in [(Int32(0), "Raw"), (Int32(16), "ZRLE")] {
    try run(encoding: encoding, name: name, pictures: desktops, label: "desktop")
    try run(encoding: encoding, name: name, pictures: noisy, label: "noise  ")
}
