// vireo-bench: Vireo against QEMU's vhost-user-gpu backends, in one run, over the same driver and display end.
// Usage: vireo-bench [--rounds N] [--quick] [--backends vireo,baseline,qemu72,qemu10] [--ops frame,damage,info] [--output FILE | --no-write]
import DisplayPNG
import Foundation
import Glibc
import VireoTestSupport

struct Options {
    var rounds = 4
    var scale = 1.0
    var wanted: Set<String> = ["vireo", "baseline", "qemu72", "qemu10"]
    var output: String? = "docs/performance.md"
    /// Operations measured (`--ops frame,damage,info`; for profiling one path). Reports need all three.
    var ops: Set<String> = ["frame", "damage", "info"]

    init(_ args: [String]) throws {
        var it = args.makeIterator()
        while let a = it.next() {
            switch a {
            case "--rounds": guard let v = it.next().flatMap(Int.init), v > 0 else { throw BenchFailure("--rounds N") }; rounds = v
            case "--quick": scale = 0.2
            case "--backends": wanted = Set((it.next() ?? "").split(separator: ",").map(String.init))
            case "--output": output = it.next()
            case "--no-write": output = nil
            case "--ops": ops = Set((it.next() ?? "").split(separator: ",").map(String.init)); output = nil
            case "-h", "--help":
                print("usage: vireo-bench [--rounds N] [--quick] [--backends vireo,baseline,qemu72,qemu10] [--ops frame,damage,info] [--output FILE | --no-write]")
                exit(0)
            default: throw BenchFailure("unknown argument \(a)")
            }
        }
    }
}

/// Iterations per backend per round (measured), and once before the first round (warm-up).
struct Counts { var frames: Int; var damage: Int; var info: Int }
let perRound = Counts(frames: 150, damage: 1500, info: 1000)
let warmUp = Counts(frames: 20, damage: 200, info: 100)
/// Bounds: one measured loop, and all rounds together (rounds stop early past it; what was measured counts).
let loopLimit: TimeInterval = 8
let runLimit: TimeInterval = 120

func run() throws {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    let specs = discoverBackends().filter { options.wanted.contains(key(of: $0)) }
    guard specs.contains(where: \.isVireo) else {
        throw BenchFailure("vireo-gpu not found: build it first (swift build -c release --product vireo-gpu) or set VIREO_GPU")
    }
    for s in specs { print("backend: \(s.name) (\(s.version)) \(s.executable)") }
    let missing = ["qemu72", "qemu10"].filter { k in options.wanted.contains(k) && !specs.contains { key(of: $0) == k } }
    for k in missing { print("backend \(k): not present, skipped") }

    let folder = try makeTempFolder()
    ChildRegistry.shared.setFolder(folder)
    ChildRegistry.shared.installSignalHandlers()
    var processes: [BackendProcess] = []
    var drivers: [BenchDriver] = []
    defer {
        for d in drivers { d.close() }
        for p in processes { p.stop() }
        ChildRegistry.shared.cleanUp()
    }
    for (i, spec) in specs.enumerated() {
        let p = try BackendProcess(spec, folder: folder, index: i)
        processes.append(p)
        do {
            drivers.append(try BenchDriver(name: spec.name, socketPath: p.socketPath))
        } catch {
            throw BenchFailure("\(spec.name): setup failed: \(error)\n--- its log:\n\(p.logTail())")
        }
        print("\(spec.name): connected, 1920x1080 scanout up, first frame pixel-exact on the display end")
    }

    func scaled(_ n: Int) -> Int { max(5, Int(Double(n) * options.scale)) }
    var results = specs.map { BackendResult(spec: $0) }
    /// Runs `n` operations of `op` on backend `b`; `record` false for warm-up.
    func measure(_ b: Int, _ op: Operation, _ n: Int, record: Bool) throws {
        let name = op == .frame ? "frame" : op == .damage ? "damage" : "info"
        guard options.ops.contains(name) else { return }
        let d = drivers[b], p = processes[b]
        var series = results[b][op]
        var index = series.count
        let cpu0 = p.cpuSeconds()
        let t0 = DispatchTime.now().uptimeNanoseconds
        let limit = t0 + UInt64(loopLimit * 1e9)
        var done = 0
        while done < n {
            let s: BenchDriver.Sample
            switch op {
            case .frame: s = try d.transferFlush(BenchDriver.full)
            case .damage: s = try d.transferFlush(BenchDriver.damageRect(index))
            case .displayInfo: s = try d.displayInfo()
            }
            if record { series.latencies.append(s.latency) }
            index += 1; done += 1
            if DispatchTime.now().uptimeNanoseconds > limit { break }
        }
        guard p.isRunning else { throw BenchFailure("\(p.spec.name) exited:\n\(p.logTail())") }
        if record {
            series.wallNanos += DispatchTime.now().uptimeNanoseconds - t0
            series.cpuSeconds += p.cpuSeconds() - cpu0
            results[b].series[op] = series
        }
    }

    for b in drivers.indices {
        try measure(b, .frame, scaled(warmUp.frames), record: false)
        try measure(b, .damage, scaled(warmUp.damage), record: false)
        try measure(b, .displayInfo, scaled(warmUp.info), record: false)
    }
    let runStart = Date()
    var roundsDone = 0
    for round in 0..<options.rounds {
        if Date().timeIntervalSince(runStart) > runLimit { print("time limit: stopping after \(round) rounds"); break }
        // Each round starts with the next backend, so none always runs first (or right after another's load).
        for k in drivers.indices {
            let b = (k + round) % drivers.count
            try measure(b, .frame, scaled(perRound.frames), record: true)
            try measure(b, .damage, scaled(perRound.damage), record: true)
            try measure(b, .displayInfo, scaled(perRound.info), record: true)
        }
        roundsDone += 1
        print("round \(round + 1)/\(options.rounds) done")
    }

    let report = Report(results: results, rounds: roundsDone, options: options, machine: Machine.current(),
                        png: measurePNG())
    print("")
    print(report.table())
    print(report.ratiosAndTargets())
    if let path = options.output {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try report.markdown().write(toFile: path, atomically: true, encoding: .utf8)
        print("wrote \(path)")
    }
}

func key(of spec: BackendSpec) -> String {
    spec.isVireo ? "vireo" : spec.takesVireoArguments ? "baseline" : spec.name.hasPrefix("QEMU 7") ? "qemu72" : "qemu10"
}

func makeTempFolder() throws -> String {
    var template = Array("/tmp/vireo-bench.XXXXXX".utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw BenchFailure("mkdtemp failed")
    }
    return String(cString: made)
}

do {
    try run()
} catch {
    FileHandle.standardError.write(Data("vireo-bench: \(error)\n".utf8))
    ChildRegistry.shared.cleanUp()
    exit(1)
}

/// PNG encode of a 1920x1080 desktop-like frame with the preset the HTTP API uses.
func measurePNG() -> (p50MS: Double, bytes: Int)? {
    let frame = desktopFrame(width: 1920, height: 1080)
    var times: [Double] = []
    var bytes = 0
    for _ in 0..<16 {
        let start = ContinuousClock.now
        guard let png = try? PNGEncoder.encode(frame) else { return nil }
        let d = ContinuousClock.now - start
        times.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
        bytes = png.count
    }
    times.removeFirst()   // warm-up
    return (times.sorted()[times.count / 2], bytes)
}
