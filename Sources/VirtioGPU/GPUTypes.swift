// GPUTypes: what the device returns to its server: the queue a request came on, results and display events.
import Display

/// GPU2D-2: controlq (0) and cursorq (1).
public enum GPUQueue: Sendable { case control, cursor }

public struct GPUCommandResult: Sendable {
    /// The whole response (header + payload); empty = write nothing.
    public var response: [UInt8]
    /// What the side channel must tell the frontend, in order.
    public var events: [GPUDisplayEvent]
    public init(response: [UInt8], events: [GPUDisplayEvent]) { self.response = response; self.events = events }
}

public enum GPUDisplayEvent: Sendable, Equatable {
    /// 0x0 means disabled.
    case scanout(index: Int, width: UInt32, height: UInt32)
    /// `rect` in scanout coordinates; the pixels are in the DisplaySet.
    case update(index: Int, rect: Rect)
    /// The image changed (or was hidden).
    case cursorUpdate(CursorState)
    case cursorMove(scanout: UInt32, x: UInt32, y: UInt32)
}

/// Which resource a scanout shows and the source rectangle in it (`virtio_gpu_set_scanout.r`).
struct ScanoutBinding: Equatable {
    var resourceID: UInt32
    var rect: Rect
}
