// ServerConfig: what one vireo-gpu process serves, decided by its flags.
import Display
import VirtioGPU

public struct ServerConfig: Sendable {
    /// Displays Vireo reports when no side channel tells it the frontend's (standalone, tests).
    public var displays: [DisplayMode] = [DisplayMode(enabled: true, width: 1280, height: 800)]
    public var limits = GPUDeviceLimits()
    /// Memory slots offered for ADD_MEM_REG (VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS).
    public var maxMemSlots = 32
    /// After a kick's work, how long the connection busy-polls the ring for more before sleeping in epoll, and how
    /// long it spins for a display-channel reply (`--poll-us`; 0 turns polling off). Costs CPU while spinning.
    public var pollMicroseconds = 50
    /// `--trace-flushes`: every RESOURCE_FLUSH logged with its wall-clock time (a benchmark diagnostic; nil: off).
    public var flushTrace: FlushTrace?
    public init() {}
}
