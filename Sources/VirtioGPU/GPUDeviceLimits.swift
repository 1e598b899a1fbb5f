// GPUDeviceLimits: the caps one frontend connection's GPU may use, each with the threat it bounds.

public struct GPUDeviceLimits: Sendable {
    /// Bytes of host resource pixels (width*height*4 summed). Bounds host RAM a guest can pin with
    /// RESOURCE_CREATE_2D; past it the create answers ERR_OUT_OF_MEMORY.
    public var hostMemoryQuota: UInt64 = 256 << 20
    /// Live resources. Bounds the resource table (each entry costs host memory even when tiny).
    public var maxResources: Int = 4096
    /// Entries in one RESOURCE_ATTACH_BACKING (QEMU's limit too). More answers ERR_INVALID_PARAMETER.
    public var maxBackingEntries: UInt32 = 16384
    /// Backing entries kept across all resources of the device: each costs host memory for its table, so
    /// 4096 resources x 16384 entries would otherwise pin about 1.6 GB. Past it: ERR_OUT_OF_MEMORY.
    public var maxTotalBackingEntries: Int = 1 << 20
    /// Resource width and height.
    public var maxDimension: UInt32 = 16384
    /// Guest-caused warnings logged per second per device; the rest are counted and summarized.
    public var warningsPerSecond: Int = 20
    public init() {}
}
