// GuestWarningLog: rate-limited warnings for guest-caused faults, so a guest cannot flood the host's logs.
import Logging

struct GuestWarningLog {
    private let logger: Logger
    private let perSecond: Int
    private var windowStart: ContinuousClock.Instant
    private var inWindow = 0
    private var suppressed = 0
    private let clock = ContinuousClock()

    init(logger: Logger, perSecond: Int) {
        self.logger = logger
        self.perSecond = max(0, perSecond)
        windowStart = clock.now
    }

    /// Logs at .warning unless this second's budget is spent; the count of dropped lines is logged with the next
    /// line that gets through.
    mutating func warn(_ message: @autoclosure () -> String, command: GPUCommandType?) {
        let now = clock.now
        if now - windowStart >= .seconds(1) {
            windowStart = now
            inWindow = 0
        }
        guard inWindow < perSecond else { suppressed += 1; return }
        inWindow += 1
        var meta: Logger.Metadata = [:]
        if let command { meta["command"] = "\(command)" }
        if suppressed > 0 { meta["suppressed"] = "\(suppressed)"; suppressed = 0 }
        logger.warning("guest fault: \(message())", metadata: meta)
    }
}
