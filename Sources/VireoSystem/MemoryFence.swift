// MemoryFence: CPU fences for memory shared with a guest.
import CVireoSystem

public enum MemoryFence {
    @inline(__always) public static func full() { cvireo_fence_seq_cst() }
    @inline(__always) public static func acquire() { cvireo_fence_acquire() }
    @inline(__always) public static func release() { cvireo_fence_release() }
}
