// PasswordThrottle: slows VNC password guessing. VNC auth is one try per connection, so a guesser opens many
// connections: each address gets a turn at a time, and after failures its turns are spaced further apart (up to a
// cap). Nobody is locked out: behind a WebSocket proxy every console user shares 127.0.0.1, and a right password
// still gets in after the current delay. A success clears the address's record.
import Foundation
import Synchronization

public final class PasswordThrottle: Sendable {
    public struct Policy: Sendable, Equatable {
        /// Delay after the first failure; doubles per further failure.
        public var firstDelay: TimeInterval = 0.5
        public var maxDelay: TimeInterval = 8
        /// Failures are forgotten after this long without one.
        public var forgetAfter: TimeInterval = 300
        /// A check that would wait longer than this is refused at once (bounds the threads parked here).
        public var maxWait: TimeInterval = 30
        public init() {}
    }

    private struct Record {
        var failures = 0
        var nextTurn = Date.distantPast
        var lastFailure = Date.distantPast
    }
    private let policy: Policy
    private let records = Mutex<[String: Record]>([:])
    private static let maxRecords = 4096

    public init(policy: Policy = Policy()) { self.policy = policy }

    /// Before checking a password from `address`: how long to wait first, or nil to refuse without checking.
    /// Reserves the turn, so parallel connections from one address are spaced out.
    public func reserveTurn(for address: String, now: Date = Date()) -> TimeInterval? {
        records.withLock { records in
            var record = records[address] ?? Record()
            if now.timeIntervalSince(record.lastFailure) > policy.forgetAfter { record = Record() }
            let turn = max(now, record.nextTurn)
            let wait = turn.timeIntervalSince(now)
            if wait > policy.maxWait { return nil }
            record.nextTurn = turn + delay(afterFailures: record.failures)
            if records.count >= Self.maxRecords, records[address] == nil {
                // Many addresses at once: forget the quiet ones rather than grow without bound.
                records = records.filter { now.timeIntervalSince($0.value.lastFailure) < policy.forgetAfter }
                if records.count >= Self.maxRecords { records.removeAll() }
            }
            records[address] = record
            return wait
        }
    }

    /// After the check: a failure lengthens the address's delay, a success clears it.
    public func record(_ accepted: Bool, for address: String, now: Date = Date()) {
        records.withLock { records in
            if accepted { records[address] = nil; return }
            var record = records[address] ?? Record()
            record.failures += 1
            record.lastFailure = now
            record.nextTurn = max(record.nextTurn, now + delay(afterFailures: record.failures))
            records[address] = record
        }
    }

    /// 0 before any failure, then firstDelay, 2x, 4x ... up to maxDelay.
    public func delay(afterFailures failures: Int) -> TimeInterval {
        guard failures > 0 else { return 0 }
        return min(policy.maxDelay, policy.firstDelay * pow(2, Double(min(failures - 1, 30))))
    }
}
