// Waiting for the picture: after_frame (long-poll past a frame counter) and wait=settled (no damage for quiet_ms).
// Waiters poll the DisplaySet's counters from their own tasks, taking its lock only for a moment: the guest's
// frame path never waits for an API client. Every wait is bounded by timeout_ms and the waiter count by maxWaiters.
import Display
import Foundation

extension DisplayRoutes {
    static let pollInterval: Duration = .milliseconds(5)

    /// The display's status, checking it is still the connected guest's and still enabled.
    func status(_ set: DisplaySet, _ index: Int) throws(APIError) -> ScanoutInfo {
        guard let current = displays(), current === set else {
            throw APIError(status: .serviceUnavailable, message: "the guest disconnected while waiting")
        }
        let info = set.info()[index]
        guard info.enabled else { throw .disabled(index) }
        return info
    }

    /// Keeps the current picture for a 408's `last_screenshot` and returns its path.
    func keepCurrent(_ set: DisplaySet, _ index: Int, cursor: Bool) -> String? {
        guard var frame = set.snapshot(index), frame.width > 0 else { return nil }
        if cursor { frame = frame.compositing(cursor: set.cursor, scanout: index) }
        return "/v1/shots/\(shots.put(frame)).png"
    }

    /// Runs `body` as one of at most `maxWaiters` waiting requests (429 past that).
    func asWaiter<T>(_ body: () async throws(APIError) -> T) async throws(APIError) -> T {
        guard waiters.tryIncrement(limit: settings.maxWaiters) else { throw .tooManyWaiters }
        defer { waiters.decrement() }
        return try await body()
    }

    /// Waits as `shot` asks, then takes the picture (with the cursor composited when asked).
    func acquire(_ set: DisplaySet, _ index: Int, _ shot: ShotOptions) async throws(APIError) -> Frame {
        if shot.waits {
            try await asWaiter { () throws(APIError) in try await wait(set, index, shot) }
        } else {
            _ = try status(set, index)
        }
        guard let frame = set.snapshot(index), frame.width > 0, frame.height > 0 else { throw .disabled(index) }
        return shot.cursor ? frame.compositing(cursor: set.cursor, scanout: index) : frame
    }

    private func wait(_ set: DisplaySet, _ index: Int, _ shot: ShotOptions) async throws(APIError) {
        let deadline = Date() + Double(shot.timeoutMs) / 1000
        if let after = shot.afterFrame {
            while true {
                let info = try status(set, index)
                if info.frameCounter > after { break }
                if Date() >= deadline {
                    throw .timeout("no frame after \(after) on display \(index) within \(shot.timeoutMs) ms",
                                   lastScreenshot: keepCurrent(set, index, cursor: shot.cursor),
                                   frameCounter: info.frameCounter)
                }
                try? await Task.sleep(for: Self.pollInterval)
            }
        }
        if let quiet = shot.settledQuietMs {
            while true {
                let info = try status(set, index)
                let now = Date()
                let age = info.lastDamage.map { now.timeIntervalSince($0) * 1000 } ?? .infinity
                if age >= Double(quiet) { break }
                if now >= deadline {
                    throw .timeout("display \(index) did not settle (\(quiet) ms without damage) within \(shot.timeoutMs) ms",
                                   lastScreenshot: keepCurrent(set, index, cursor: shot.cursor),
                                   frameCounter: info.frameCounter)
                }
                let ms = max(1, min(Double(quiet) - age, deadline.timeIntervalSince(now) * 1000, 50))
                try? await Task.sleep(for: .microseconds(Int(ms * 1000)))
            }
        }
    }
}
