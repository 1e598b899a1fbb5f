// GuestWarningLog: rate-limited warnings for guest-caused faults, so a guest cannot flood the host's logs.
// Shared by every device model.
import Logging

public struct GuestWarningLog: Sendable {
    private let logger: Logger
    private let perSecond: Int
    private let baseMetadata: Logger.Metadata
    private var windowStart: ContinuousClock.Instant
    private var inWindow = 0
    private var suppressed = 0

    public init(logger: Logger, perSecond: Int, metadata: Logger.Metadata = [:]) {
        self.logger = logger
        self.perSecond = max(0, perSecond)
        baseMetadata = metadata
        windowStart = ContinuousClock.now
    }

    /// Logs at .warning unless this second's budget is spent; the count of dropped lines goes with the next line
    /// that gets through.
    public mutating func warn(_ message: @autoclosure () -> String, metadata: Logger.Metadata = [:]) {
        let now = ContinuousClock.now
        if now - windowStart >= .seconds(1) {
            windowStart = now
            inWindow = 0
        }
        guard inWindow < perSecond else { suppressed += 1; return }
        inWindow += 1
        var meta = baseMetadata.merging(metadata) { $1 }
        if suppressed > 0 { meta["suppressed"] = "\(suppressed)"; suppressed = 0 }
        logger.warning("guest fault: \(message())", metadata: meta)
    }
}
