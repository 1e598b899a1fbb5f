// ServerConfig: what one vireo-gpu process serves, decided by its flags.
import Display
import VirtioGPU

public struct ServerConfig: Sendable {
    /// Displays Vireo reports when no side channel tells it the frontend's (standalone, tests).
    public var displays: [DisplayMode] = [DisplayMode(enabled: true, width: 1280, height: 800)]
    public var limits = GPUDeviceLimits()
    /// Memory slots offered for ADD_MEM_REG (VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS).
    public var maxMemSlots = 32
    public init() {}
}
