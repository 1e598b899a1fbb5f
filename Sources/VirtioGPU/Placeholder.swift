// TEMPORARY stub of GPUDevice's API so the server compiles until the device lands (replaced on merge).
import Display
import GuestMemory
import Logging

public struct GPUDeviceLimits: Sendable {
    public var hostMemoryQuota: UInt64 = 256 << 20
    public var maxResources: Int = 4096
    public var maxBackingEntries: UInt32 = 16384
    public var maxDimension: UInt32 = 16384
    public init() {}
}
public enum GPUQueue: Sendable { case control, cursor }
public struct GPUCommandResult: Sendable {
    public var response: [UInt8]
    public var events: [GPUDisplayEvent]
}
public enum GPUDisplayEvent: Sendable, Equatable {
    case scanout(index: Int, width: UInt32, height: UInt32)
    case update(index: Int, rect: Rect)
    case cursorUpdate(CursorState)
    case cursorMove(scanout: UInt32, x: UInt32, y: UInt32)
}
public final class GPUDevice {
    public static let deviceID: UInt32 = 16
    public static let offeredFeatures: UInt64 = 0b11
    public static let maxRequestSize: Int = 32 + 16384 * 16
    public init(displays: DisplaySet, limits: GPUDeviceLimits = .init(), logger: Logger) {}
    public func setNegotiatedFeatures(_ features: UInt64) {}
    public func handle(request: [UInt8], queue: GPUQueue, dma: DMASpace) -> GPUCommandResult {
        GPUCommandResult(response: [], events: [])
    }
    public var configSpace: [UInt8] { [UInt8](repeating: 0, count: 24) }
    public func writeConfig(offset: UInt32, bytes: [UInt8]) {}
    public func displayConfigurationChanged() {}
    public var frontendEDID: [Int: [UInt8]] = [:]
    public var usedHostMemory: UInt64 { 0 }
    public var resourceCount: Int { 0 }
    public func reset() {}
}
