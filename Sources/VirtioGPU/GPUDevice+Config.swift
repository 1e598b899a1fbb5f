// GPUDevice+Config: `struct virtio_gpu_config` (GPU2D-4): events_read, events_clear, num_scanouts, num_capsets.
import Wire

extension GPUDevice {
    static let configSize = 16

    /// GPU2D-4: [VIRTIO] 5.7.4, four le32 fields (16 bytes). events_clear reads 0 (writes apply at once);
    /// GPU2D-4.1: num_capsets is 0 in 2D mode.
    public var configSpace: [UInt8] {
        var w = WireWriter(capacity: Self.configSize)
        w.write(eventsRead)                    // events_read
        w.write(UInt32(0))                     // events_clear
        w.write(UInt32(displays.count))        // num_scanouts
        w.write(UInt32(0))                     // num_capsets (GPU2D-4.1)
        return w.bytes
    }

    /// GPU2D-4: writing bits to events_clear clears them in events_read; every other field is read-only
    /// (GPU2D-4.1: num_capsets writes are ignored). Partial writes clear the bits of the bytes written.
    public func writeConfig(offset: UInt32, bytes: [UInt8]) {
        var mask: UInt32 = 0
        for (i, byte) in bytes.enumerated() {
            let (pos, overflow) = UInt64(offset).addingReportingOverflow(UInt64(i))
            guard !overflow, pos >= 4, pos < 8 else { continue }   // events_clear is bytes 4..<8
            mask |= UInt32(byte) << (8 * (pos - 4))
        }
        eventsRead &= ~mask
    }

    /// [VIRTIO] 5.7.4: the device sets VIRTIO_GPU_EVENT_DISPLAY when the display configuration changed (the
    /// server then sends a config-change notification).
    public func displayConfigurationChanged() { eventsRead |= GPUEvents.display }
}
