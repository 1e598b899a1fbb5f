// InputConnection: one frontend connection of the virtio-input device (QEMU's vhost-user-input-pci; [VIRTIO] 5.8:
// device id 18, eventq 0, statusq 1). Events queued on the InputPort's device (by display exporters, any thread)
// wake this connection through `eventsPending`; each goes into one eventq buffer the driver posted. statusq
// buffers (LED state) are read and returned. QEMU reads the whole config with GET_CONFIG and writes it back with
// SET_CONFIG, so VHOST_USER_PROTOCOL_F_CONFIG is required.
import GuestMemory
import Logging
import VhostUser
import VireoSystem
import Virtio
import VirtioInput

public final class InputConnection: VhostUserConnection, @unchecked Sendable {
    // Sendable: all state is confined to the thread that calls `run()`; `port.device` locks its own state.
    let port: InputPort
    /// Eventq buffers returned unused: smaller than an event, or with a device-readable part.
    var unusableEventBuffers: UInt64 = 0
    /// statusq buffers that could not be read.
    var unreadableStatusBuffers: UInt64 = 0

    static let eventsPendingTag = deviceTagBase
    /// Bounds what is read of one statusq buffer (one event is 8 bytes; the driver sends one per buffer).
    static let maxStatusSize = 4096

    public init(socket: OwnedFD, config: ServerConfig, logger: Logger, port: InputPort,
                counters: ClientCounters = ClientCounters()) throws {
        self.port = port
        try super.init(socket: socket, config: config, logger: logger, queueCount: InputConstants.queueCount,
                       counters: counters)
        try epoll.add(port.eventsPending, tag: Self.eventsPendingTag)
        port.device.reset()
        port.connectionStarted()
    }

    override var deviceName: String { "virtio-input" }
    public static var offeredFeatures: UInt64 {
        FeatureBit.version1 | FeatureBit.indirectDesc | FeatureBit.eventIdx | FeatureBit.protocolFeatures
            | InputDevice.offeredFeatures
    }
    override var offeredFeatureBits: UInt64 { Self.offeredFeatures }
    override var offeredProtocolFeatureBits: UInt64 {
        [VhostUserProtocolFeature.replyAck, .config, .configureMemSlots, .resetDevice, .status].reduce(0) { $0 | $1.mask }
    }
    override var deviceConfigSpace: [UInt8] { port.device.configSpace }
    override func writeDeviceConfig(offset: UInt32, bytes: [UInt8]) { port.device.writeConfig(offset: offset, bytes: bytes) }
    override func serveQueue(_ i: Int) { serveInputQueue(i) }
    override func handleDeviceEvent(tag: UInt64) {
        guard tag == Self.eventsPendingTag else { return }
        _ = EventFD.drain(port.eventsPending)
        deliverEvents()
    }
    override func resetDeviceState() { port.device.reset() }
    /// The guest's input driver is gone with its frontend: nothing stays pressed or pending for the next one.
    override func releaseDeviceState() {
        port.connectionEnded()
        port.device.reset()
        epoll.remove(port.eventsPending)
    }
}
