// Measurements: samples per backend and operation, their percentiles and rates, and the targets Vireo is held to.
import Foundation

enum Operation: String, CaseIterable, Sendable {
    case frame = "1080p TRANSFER+FLUSH"
    case damage = "64x64 TRANSFER+FLUSH"
    case displayInfo = "GET_DISPLAY_INFO"
}

struct Series {
    var latencies: [UInt64] = []      // ns per operation (submit to UPDATE received / used)
    var wallNanos: UInt64 = 0         // wall time of the measured loops
    var cpuSeconds: Double = 0        // the backend process's CPU time during them

    var count: Int { latencies.count }
    var perSecond: Double { wallNanos == 0 ? 0 : Double(count) / (Double(wallNanos) / 1e9) }
    /// Nearest-rank percentile in milliseconds.
    func percentileMS(_ p: Double) -> Double {
        guard !latencies.isEmpty else { return .nan }
        let sorted = latencies.sorted()
        let rank = max(0, min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
        return Double(sorted[rank]) / 1e6
    }
    var cpuMSPerOp: Double { count == 0 ? .nan : cpuSeconds * 1000 / Double(count) }
}

struct BackendResult {
    var spec: BackendSpec
    var series: [Operation: Series] = [:]
    subscript(_ op: Operation) -> Series { series[op] ?? Series() }
}

struct Target {
    var text: String
    var value: String
    var met: Bool
}

/// The targets of the brief, each judged against one peer from the same run.
func targets(vireo: BackendResult, peer: BackendResult) -> [Target] {
    let vf = vireo[.frame], pf = peer[.frame]
    let vd = vireo[.damage], pd = peer[.damage]
    let vi = vireo[.displayInfo], pi = peer[.displayInfo]
    let frameRatio = vf.perSecond / pf.perSecond
    let damageRatio = vd.perSecond / pd.perSecond
    let infoRatio = vi.percentileMS(99) / pi.percentileMS(99)
    return [
        Target(text: "1080p frames/s >= 2x", value: String(format: "%.2fx", frameRatio), met: frameRatio >= 2),
        Target(text: "1080p p99 <= peer's p50",
               value: String(format: "%.2f ms vs %.2f ms", vf.percentileMS(99), pf.percentileMS(50)),
               met: vf.percentileMS(99) <= pf.percentileMS(50)),
        Target(text: "64x64 damage updates/s >= 3x", value: String(format: "%.2fx", damageRatio), met: damageRatio >= 3),
        Target(text: "GET_DISPLAY_INFO p99 <= 0.5x peer's p99", value: String(format: "%.2fx", infoRatio),
               met: infoRatio <= 0.5),
    ]
}
