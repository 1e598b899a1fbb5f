// png-bench: PNG encode time and size per option set on a 1920x1080 desktop-like frame and a noise frame.
// Run: swift run -c release png-bench [runs] [all] [only=TEXT] [ppm=PATH]
// Each setting runs on three encoders: libpng (the previous one), the strip encoder on one thread, and on all CPUs.
import Display
import DisplayPNG
import Foundation
import VireoTestSupport


func noiseFrame(width: Int, height: Int) -> Frame {
    let set = DisplaySet(modes: [DisplayMode(enabled: true, width: UInt32(width), height: UInt32(height))])
    set.enable(0, width: UInt32(width), height: UInt32(height))
    var state: UInt64 = 0x1234_5678   // SplitMix64: an LCG's low bits repeat too soon for noise
    set.update(0, damage: Rect(x: 0, y: 0, width: UInt32(width), height: UInt32(height))) { p, _ in
        for i in 0..<p.count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = (state ^ (state >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            p[i] = UInt8(truncatingIfNeeded: z ^ (z >> 31))
        }
    }
    return set.snapshot(0)!
}

/// CPU time of the whole process in ms (all threads): what an encode costs the machine, next to its wall time.
func processCPUms() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) * 1e3 + Double(ts.tv_nsec) / 1e6
}

enum Engine: String { case libpng = "libpng", strips1 = "strips t=1", strips = "strips auto" }

// Arguments: [runs] [all] [only=TEXT]. Without "all" only the settings worth comparing run; only= keeps the lines
// (setting, engine, frame) containing TEXT (for profiling one of them).
let runs = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 9
let all = CommandLine.arguments.contains("all")
let only = CommandLine.arguments.first { $0.hasPrefix("only=") }.map { String($0.dropFirst(5)) }
let settings: [(String, PNGOptions)] = [
    ("L1 SUB   rle (.fast)", .fast),
    ("L1 UP    rle", PNGOptions(zlibLevel: 1, filter: .up, strategy: .rle)),
    ("L1 NONE  default", PNGOptions(zlibLevel: 1, filter: .none, strategy: .default)),
    ("L1 SUB   default", PNGOptions(zlibLevel: 1, filter: .sub, strategy: .default)),
    ("L1 UP    default", PNGOptions(zlibLevel: 1, filter: .up, strategy: .default)),
] + (all ? [
    ("L1 NONE  rle", PNGOptions(zlibLevel: 1, filter: .none, strategy: .rle)),
    ("L1 ADAPT rle", PNGOptions(zlibLevel: 1, filter: .adaptive, strategy: .rle)),
    ("L1 ADAPT default", PNGOptions(zlibLevel: 1, filter: .adaptive, strategy: .default)),
    ("L6 ADAPT default (.small)", .small),
    ("L1 SCREEN rle", PNGOptions(zlibLevel: 1, filter: .screen, strategy: .rle)),
    ("L6 SCREEN default (.compact)", .compact),
    ("L4 SCREEN default", PNGOptions(zlibLevel: 4, filter: .screen, strategy: .default)),
    ("L7 SCREEN default", PNGOptions(zlibLevel: 7, filter: .screen, strategy: .default)),
    ("L8 SCREEN default", PNGOptions(zlibLevel: 8, filter: .screen, strategy: .default)),
    ("L9 SCREEN default", PNGOptions(zlibLevel: 9, filter: .screen, strategy: .default)),
    ("L3 SCREEN default", PNGOptions(zlibLevel: 3, filter: .screen, strategy: .default)),
    ("L0 NONE", PNGOptions(zlibLevel: 0, filter: .none, strategy: .default)),
] : [])
/// A binary PPM (P6, maxval 255) as a BGRX frame: `ppm=PATH` benchmarks a real screen (e.g. an e2e guest's).
func ppmFrame(_ path: String) -> Frame? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    let bytes = [UInt8](data)
    var fields: [String] = [], i = 0
    while fields.count < 4, i < bytes.count {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0a || bytes[i] == 0x0d || bytes[i] == 0x09 { i += 1 }
        var token = ""
        while i < bytes.count, !(bytes[i] == 0x20 || bytes[i] == 0x0a || bytes[i] == 0x0d || bytes[i] == 0x09) {
            token.append(Character(UnicodeScalar(bytes[i]))); i += 1
        }
        fields.append(token)
    }
    i += 1
    guard fields.count == 4, fields[0] == "P6", let w = Int(fields[1]), let h = Int(fields[2]), fields[3] == "255",
          bytes.count - i >= w * h * 3 else { return nil }
    var px = [UInt8](repeating: 0, count: w * h * 4)
    for p in 0..<(w * h) { px[p * 4] = bytes[i + p * 3 + 2]; px[p * 4 + 1] = bytes[i + p * 3 + 1]; px[p * 4 + 2] = bytes[i + p * 3] }
    return Frame(width: UInt32(w), height: UInt32(h), pixels: px, frameCounter: 0)
}

let ppmPath = CommandLine.arguments.first { $0.hasPrefix("ppm=") }.map { String($0.dropFirst(4)) }
let frames = (ppmPath.flatMap(ppmFrame).map { [("ppm \(ppmPath!)", $0)] } ?? []) + [
    ("desktop, dense text", desktopFrame(width: 1920, height: 1080)),
    ("desktop, sparse text", desktopFrame(width: 1920, height: 1080, lineSpacing: 60)),
    ("noise", noiseFrame(width: 1920, height: 1080)),
]

func encode(_ frame: Frame, _ options: PNGOptions, _ engine: Engine) throws -> [UInt8] {
    switch engine {
    case .libpng: try PNGEncoder._encodeWithLibPNG(frame, options: options)
    case .strips1: try PNGEncoder.encode(frame, options: { var o = options; o.threads = 1; return o }())
    case .strips: try PNGEncoder.encode(frame, options: options)
    }
}

var loadavg = [Double](repeating: 0, count: 3)
_ = getloadavg(&loadavg, 3)
print(String(format: "load average %.2f %.2f %.2f, %d CPUs", loadavg[0], loadavg[1], loadavg[2],
             ProcessInfo.processInfo.activeProcessorCount))
for (name, frame) in frames {
    print("\(name) \(frame.width)x\(frame.height), \(runs) runs: wall median (min), process CPU median, size")
    let reference = try PNGDecoder.decodeRGBA(try encode(frame, .fast, .libpng), maxPixels: 1 << 30)
    for (label, options) in settings {
        for engine in [Engine.libpng, .strips1, .strips] {
            if engine == .libpng && options.filter == .screen { continue }   // libpng has no such filter
            if let only, !"\(name) \(label) \(engine.rawValue)".contains(only) { continue }
            var wall: [Double] = [], cpu: [Double] = []
            var size = 0
            for _ in 0..<runs {
                let start = ContinuousClock.now, cpuStart = processCPUms()
                size = try encode(frame, options, engine).count
                cpu.append(processCPUms() - cpuStart)
                let d = ContinuousClock.now - start
                wall.append(Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1e3)
            }
            // Not a test, but a benchmark of a wrong encoder is worthless: every output decodes to the same pixels.
            let decoded = try PNGDecoder.decodeRGBA(try encode(frame, options, engine), maxPixels: 1 << 30)
            guard decoded == reference else { fatalError("\(label) \(engine.rawValue): pixels differ") }
            wall.sort(); cpu.sort()
            let line = (label + "  " + engine.rawValue).padding(toLength: 40, withPad: " ", startingAt: 0)
            print(line + String(format: "wall %7.2f (min %6.2f) ms  cpu %7.2f ms %9d B",
                                wall[runs / 2], wall[0], cpu[runs / 2], size))
        }
    }
}
