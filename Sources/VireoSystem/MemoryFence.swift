// MemoryFence: CPU fences for memory shared with a guest.
import CVireoSystem

public enum MemoryFence {
    @inline(__always) public static func full() { cvireo_fence_seq_cst() }
    @inline(__always) public static func acquire() { cvireo_fence_acquire() }
    @inline(__always) public static func release() { cvireo_fence_release() }
}

/// Bounded busy-waiting (ring and reply polling): a deadline on the monotonic clock and a CPU spin hint.
public struct SpinDeadline {
    private let end: UInt64
    /// A deadline `microseconds` from now (0: already passed).
    public init(microseconds: Int) { end = cvireo_monotonic_ns() &+ UInt64(max(0, microseconds)) &* 1000 }
    public var hasPassed: Bool { cvireo_monotonic_ns() >= end }
    @inline(__always) public static func relax() { cvireo_cpu_relax() }
}
