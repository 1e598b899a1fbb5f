// IOMMUWarningLog: rate-limited warnings for guest-caused refusals, so a guest cannot flood the host's logs.
// (The same shape as VirtioGPU's GuestWarningLog; a shared one could move down a layer.)
import Logging

struct IOMMUWarningLog: Sendable {
    private let logger: Logger
    private let perSecond: Int
    private let clock = ContinuousClock()
    private var windowStart: ContinuousClock.Instant
    private var inWindow = 0
    private var suppressed = 0

    init(logger: Logger, perSecond: Int) {
        self.logger = logger
        self.perSecond = max(0, perSecond)
        windowStart = clock.now
    }

    /// Logs at .warning unless this second's budget is spent; the count of dropped lines goes with the next one.
    mutating func warn(_ message: @autoclosure () -> String, rule: SpecRule?) {
        let now = clock.now
        if now - windowStart >= .seconds(1) {
            windowStart = now
            inWindow = 0
        }
        guard inWindow < perSecond else { suppressed += 1; return }
        inWindow += 1
        var meta: Logger.Metadata = ["device": "virtio-iommu"]
        if let rule { meta["rule"] = "\(rule.id)" }
        if suppressed > 0 { meta["suppressed"] = "\(suppressed)"; suppressed = 0 }
        logger.warning("guest fault: \(message())", metadata: meta)
    }
}
