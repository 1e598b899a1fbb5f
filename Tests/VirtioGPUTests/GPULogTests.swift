// Guest-caused warnings are logged with their reason, at most `warningsPerSecond` per device.
import Logging
import Synchronization
import Testing
@testable import VirtioGPU

/// Collects log lines (levels and messages) for inspection.
final class CapturedLogs: Sendable {
    let lines = Mutex<[(Logger.Level, String)]>([])
    var all: [(Logger.Level, String)] { lines.withLock { $0 } }
}

struct CapturingHandler: LogHandler {
    let sink: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] } set { metadata[key] = newValue }
    }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        sink.lines.withLock { $0.append((level, message.description)) }
    }
}

@Suite struct GPULogTests {
    @Test("GPU2D-5: guest faults are logged as rate-limited warnings with a reason")
    func rateLimited() throws {
        let sink = CapturedLogs()
        var limits = GPUDeviceLimits()
        limits.warningsPerSecond = 5
        let h = try Harness(limits: limits)
        let device = GPUDevice(displays: h.displays, limits: limits,
                               logger: Logger(label: "t", factory: { _ in CapturingHandler(sink: sink) }))
        for _ in 0..<100 { _ = device.handle(request: Req.unref(42), queue: .control, dma: h.guest.dma) }
        let lines = sink.all
        #expect(lines.count == 5)
        #expect(lines.allSatisfy { $0.0 == .warning && $0.1.contains("resource 42") })
    }
}
