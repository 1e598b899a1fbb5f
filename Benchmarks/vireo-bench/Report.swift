// Report: finds the backends, describes the machine, and renders the console table and docs/performance.md.
import Foundation

/// Vireo next to this executable (or VIREO_GPU), QEMU 7.2's system backend, QEMU 10's from the cache
/// (scripts/fetch-qemu10.sh; or QEMU10_VHOST_USER_GPU). Missing peers are skipped.
func discoverBackends() -> [BackendSpec] {
    let env = ProcessInfo.processInfo.environment
    let fm = FileManager.default
    var specs: [BackendSpec] = []
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    let vireo = [env["VIREO_GPU"], "\(here)/vireo-gpu", ".build/release/vireo-gpu"].compactMap { $0 }
        .first { fm.isExecutableFile(atPath: $0) }
    if let vireo {
        let commit = shell("git", "rev-parse", "--short", "HEAD") ?? "unknown commit"
        let dirty = (shell("git", "status", "--porcelain", "--untracked-files=no", "Sources") ?? "").isEmpty ? ""
            : " + uncommitted changes in Sources/"
        specs.append(BackendSpec(name: "Vireo", executable: vireo, version: "git \(commit)\(dirty)", isVireo: true))
    }
    // A second Vireo build measured as a peer in the same run (A/B comparisons of changes on a noisy machine).
    if let base = env["VIREO_GPU_BASELINE"], fm.isExecutableFile(atPath: base) {
        specs.append(BackendSpec(name: "Vireo baseline", executable: base, version: base, isVireo: false,
                                 takesVireoArguments: true))
    }
    let q72 = env["QEMU72_VHOST_USER_GPU"] ?? "/usr/lib/qemu/vhost-user-gpu"
    if fm.isExecutableFile(atPath: q72) {
        let v = shell("dpkg-query", "-W", "-f=${Version}", "qemu-system-gui") ?? "?"
        specs.append(BackendSpec(name: "QEMU 7.2", executable: q72, version: "Debian \(v)", isVireo: false))
    }
    let cache = (env["VIREO_CACHE"] ?? "/var/cache/vireo") + "/qemu10/current"
    let q10 = env["QEMU10_VHOST_USER_GPU"] ?? "\(cache)/root/usr/lib/qemu/vhost-user-gpu"
    if fm.isExecutableFile(atPath: q10) {
        let v = (try? String(contentsOfFile: "\(cache)/ready", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        specs.append(BackendSpec(name: "QEMU 10.0", executable: q10, version: "Debian \(v)", isVireo: false))
    }
    return specs
}

/// Runs a command and returns its trimmed stdout, nil on failure.
func shell(_ args: String...) -> String? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return nil }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { return nil }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

struct Machine {
    var cpus: Int
    var model: String
    var kernel: String
    var os: String
    var date: String

    static func current() -> Machine {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last!.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let osRelease = (try? String(contentsOfFile: "/etc/os-release", encoding: .utf8)) ?? ""
        let os = osRelease.split(separator: "\n").first { $0.hasPrefix("PRETTY_NAME=") }
            .map { $0.dropFirst(12).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) } ?? "unknown"
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        f.timeZone = TimeZone(identifier: "UTC")
        return Machine(cpus: ProcessInfo.processInfo.activeProcessorCount, model: model,
                       kernel: shell("uname", "-r") ?? "?", os: os, date: f.string(from: Date()))
    }
}

struct Report {
    var results: [BackendResult]
    var rounds: Int
    var options: Options
    var machine: Machine
    /// PNG encode of a 1080p desktop-like frame: median ms over the runs, and the PNG size.
    var png: (p50MS: Double, bytes: Int)?

    var vireo: BackendResult? { results.first { $0.spec.isVireo } }
    var peers: [BackendResult] { results.filter { !$0.spec.isVireo } }

    private func f(_ v: Double, _ digits: Int = 2) -> String { v.isNaN ? "-" : String(format: "%.\(digits)f", v) }

    func rows() -> [[String]] {
        results.map { r in
            let fr = r[.frame], dm = r[.damage], di = r[.displayInfo]
            return [r.spec.name, f(fr.perSecond, 0), f(fr.percentileMS(50)), f(fr.percentileMS(99)), f(fr.cpuMSPerOp),
                    f(dm.perSecond, 0), f(dm.percentileMS(50) * 1000, 0), f(dm.percentileMS(99) * 1000, 0),
                    f(di.percentileMS(50) * 1000, 0), f(di.percentileMS(99) * 1000, 0)]
        }
    }
    static let header = ["Backend", "1080p frames/s", "frame p50 ms", "frame p99 ms", "backend CPU ms/frame",
                         "64x64 updates/s", "64x64 p50 µs", "64x64 p99 µs", "DISPLAY_INFO p50 µs", "DISPLAY_INFO p99 µs"]

    func table() -> String {
        let all = [Self.header] + rows()
        let widths = Self.header.indices.map { c in all.map { $0[c].count }.max()! }
        return all.enumerated().map { i, row in
            let line = row.enumerated().map { c, cell in
                c == 0 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                       : String(repeating: " ", count: widths[c] - cell.count) + cell
            }.joined(separator: "  ")
            return i == 0 ? line + "\n" + String(repeating: "-", count: line.count) : line
        }.joined(separator: "\n")
    }

    func ratioRows() -> [[String]] {
        guard let v = vireo else { return [] }
        return peers.map { p in
            [p.spec.name,
             f(v[.frame].perSecond / p[.frame].perSecond) + "x",
             f(v[.frame].percentileMS(50) / p[.frame].percentileMS(50)) + "x",
             f(v[.frame].percentileMS(99) / p[.frame].percentileMS(99)) + "x",
             f(v[.frame].cpuMSPerOp / p[.frame].cpuMSPerOp) + "x",
             f(v[.damage].perSecond / p[.damage].perSecond) + "x",
             f(v[.displayInfo].percentileMS(50) / p[.displayInfo].percentileMS(50)) + "x",
             f(v[.displayInfo].percentileMS(99) / p[.displayInfo].percentileMS(99)) + "x"]
        }
    }
    static let ratioHeader = ["Vireo ÷", "frames/s", "frame p50", "frame p99", "CPU/frame", "64x64 updates/s",
                              "DISPLAY_INFO p50", "DISPLAY_INFO p99"]

    func ratiosAndTargets() -> String {
        guard let v = vireo else { return "" }
        var out = "\nRatios (Vireo ÷ peer; above 1 is better for rates, below 1 for times):\n"
        for row in ratioRows() { out += zip(Self.ratioHeader, row).map { "\($0)=\($1)" }.joined(separator: "  ") + "\n" }
        for p in peers {
            out += "\nTargets against \(p.spec.name):\n"
            for t in targets(vireo: v, peer: p) { out += "  [\(t.met ? "met" : "MISSED")] \(t.text): \(t.value)\n" }
        }
        if let png { out += "  [\(png.p50MS <= 10 ? "met" : "MISSED")] PNG 1080p <= 10 ms: \(f(png.p50MS)) ms (\(png.bytes) bytes)\n" }
        return out
    }

    func markdown() -> String {
        func mdTable(_ header: [String], _ rows: [[String]]) -> String {
            var s = "| " + header.joined(separator: " | ") + " |\n"
            s += "|" + header.indices.map { $0 == 0 ? "---|" : "---:|" }.joined() + "\n"
            for r in rows { s += "| " + r.joined(separator: " | ") + " |\n" }
            return s
        }
        var md = """
        # Performance: Vireo against QEMU's vhost-user-gpu

        Generated by `vireo-bench` (`Benchmarks/vireo-bench`) on \(machine.date). All figures below come from
        **one run**, with every backend measured in the same run, in alternating rounds. Figures on these shared
        machines vary a lot between runs (QEMU 7.2's 1080p rate has been seen anywhere from about 320 to 490
        frames/s), so only the ratios within one run mean anything; compare runs by their ratios, never by their
        absolute numbers.

        Machine: \(machine.cpus) CPUs (`nproc`), \(machine.model), \(machine.os), Linux \(machine.kernel); no GPU.

        Backends:

        """
        for r in results { md += "- \(r.spec.name): `\(r.spec.executable)` (\(r.spec.version))\n" }
        md += "\n## Results (\(rounds) rounds)\n\n" + mdTable(Self.header, rows())
        md += "\nRatios, Vireo ÷ peer (rates: above 1 is better; times: below 1 is better):\n\n"
        md += mdTable(Self.ratioHeader, ratioRows())
        if let v = vireo {
            for p in peers {
                md += "\n### Targets against \(p.spec.name)\n\n"
                md += mdTable(["Target", "This run", "Met"], targets(vireo: v, peer: p).map { [$0.text, $0.value, $0.met ? "yes" : "**no**"] })
            }
        }
        md += """

        PNG encode of a 1080p desktop-like frame (`PNGEncoder`, `.fast`, p50 of 15; target <= 10 ms): \(png.map { "\(f($0.p50MS)) ms, \($0.bytes) bytes, **\($0.p50MS <= 10 ? "met" : "not met")**" } ?? "not measured").

        Screenshot latency and PNG size against QEMU's QMP `screendump` (the screenshot API's targets) are in
        [`performance-screenshots.md`](performance-screenshots.md) (`scripts/bench-screenshot.sh`); the cost of DMA
        translation (virtio-iommu, IOTLB), MAP+UNMAP rates and lookup costs in
        [`performance-iommu.md`](performance-iommu.md) (`scripts/bench-iommu.sh`); VNC frames/s, bytes per frame and
        flush-to-viewer latency against QEMU's built-in VNC server (same guest, same viewer, one run), and whether
        those targets are met, in [`performance-vnc.md`](performance-vnc.md) (`scripts/bench-vnc.sh`); the VNC
        exporter alone in [`vnc.md`](vnc.md#figures-vnc-bench) (`vnc-bench`).

        ## What is measured

        Each backend runs as a child process (`--socket-path` in a temp folder). One driver, built from
        `VireoTestSupport`, plays both QEMU (vhost-user negotiation, memfd guest RAM, rings with eventfds) and the
        guest (virtio-gpu commands on the control queue), and `FakeDisplayFrontend` plays QEMU's display end of the
        vhost-user-gpu side channel (GPU_SET_SOCKET): it answers GET_DISPLAY_INFO with 1920x1080 and reads every
        UPDATE with its pixels. Negotiated: VERSION_1, INDIRECT_DESC, EVENT_IDX, PROTOCOL_FEATURES; protocol
        features REPLY_ACK and CONFIG; VIRTIO_GPU_F_EDID off (QEMU's backend exits when the guest has EDID but the
        display end lacks the EDID protocol).

        Setup: a 1920x1080 B8G8R8X8 resource backed by a desktop-like picture in \(BenchDriver.backingPieceBytes >> 10) KiB
        backing entries (\((Int(BenchDriver.width * BenchDriver.height) * 4 + BenchDriver.backingPieceBytes - 1) / BenchDriver.backingPieceBytes) entries), SET_SCANOUT on scanout 0, then one frame whose pixels
        the display end checks against the guest's picture (they must match exactly before anything is timed).

        - **1080p TRANSFER+FLUSH**: TRANSFER_TO_HOST_2D of the whole resource and RESOURCE_FLUSH of the whole
          scanout, published together with one kick. A frame is done when both answered OK_NODATA **and** the
          display end has received the UPDATE with all 8.3 MB of pixels. Latency: from the kick to the UPDATE
          fully read; frames/s: frames / wall time of the loop (one frame at a time).
        - **64x64 damage**: the same for a 64x64 rectangle that moves across the screen (offset as a guest driver
          computes it); updates/s and latency the same way.
        - **GET_DISPLAY_INFO**: round trip from the kick to the used entry; both backends ask the display end on
          the side channel each time.
        - **Backend CPU ms/frame**: the backend process's user+system CPU time (`/proc/PID/stat`, 10 ms ticks)
          during the 1080p loops, per frame.

        Per backend: warm-up (\(warmUp.frames) frames, \(warmUp.damage) damage updates, \(warmUp.info) GET_DISPLAY_INFO), then per round
        \(perRound.frames) frames, \(perRound.damage) damage updates and \(perRound.info) GET_DISPLAY_INFO\(options.scale == 1 ? "" : " (scaled by \(options.scale))");
        rounds rotate which backend goes first. Percentiles are nearest-rank over all rounds. A p99 on these shared
        cores is set by scheduling outliers (a preempted thread: 0.1 to several ms), whichever backend they hit, so one
        run's p99 ratio can land far from another's; GET_DISPLAY_INFO's p99 (a ~25-60 µs round trip) most of all.

        ## How to rerun

        ```sh
        scripts/bench.sh                  # builds vireo-gpu and vireo-bench (release), runs, rewrites this page
        # or by hand, from the repository root:
        swift build -c release --product vireo-gpu && swift build -c release --product vireo-bench
        .build/release/vireo-bench        # --quick, --rounds N, --backends vireo,qemu72,qemu10, --no-write
        ```

        QEMU 7.2's backend comes from `qemu-system-gui` (`/usr/lib/qemu/vhost-user-gpu`); QEMU 10's from
        `scripts/fetch-qemu10.sh` (cached under `/var/cache/vireo/qemu10`). A missing peer is skipped.

        To judge a change on these noisy machines, measure the old and the new build in the same run:
        `VIREO_GPU_BASELINE=/path/to/old/vireo-gpu .build/release/vireo-bench --backends vireo,baseline --no-write`
        adds the old build as a peer ("Vireo baseline"; a wrapper script can add arguments such as `--poll-us 0`).
        `--ops frame|damage|info` (comma-separated) runs only those loops, for `perf record -p` on the backend.

        """
        return md
    }
}
