// PasswordThrottle's arithmetic, with a clock the test controls.
@testable import DisplayVNC
import Foundation
import Testing

@Suite struct PasswordThrottleTests {
    @Test("Delays double per failure up to the cap, space out turns, reset on success and are per address")
    func delays() {
        var policy = PasswordThrottle.Policy()
        policy.firstDelay = 1
        policy.maxDelay = 4
        policy.maxWait = 10
        let throttle = PasswordThrottle(policy: policy)
        let t0 = Date(timeIntervalSince1970: 1000)
        #expect([0, 1, 2, 3, 4, 5].map(throttle.delay(afterFailures:)) == [0, 1, 2, 4, 4, 4])
        #expect(throttle.reserveTurn(for: "a", now: t0) == 0)
        throttle.record(false, for: "a", now: t0)
        #expect(throttle.reserveTurn(for: "a", now: t0) == 1)      // 1 s after the first failure
        #expect(throttle.reserveTurn(for: "a", now: t0) == 2)      // the next turn 1 s later
        #expect(throttle.reserveTurn(for: "b", now: t0) == 0)      // another address is not delayed
        throttle.record(true, for: "a", now: t0)
        #expect(throttle.reserveTurn(for: "a", now: t0) == 0)
    }

    @Test("A queue longer than maxWait is refused unchecked; old failures are forgotten")
    func refusalAndForgetting() {
        var policy = PasswordThrottle.Policy()
        policy.firstDelay = 5
        policy.maxDelay = 5
        policy.maxWait = 8
        policy.forgetAfter = 60
        let throttle = PasswordThrottle(policy: policy)
        let t0 = Date(timeIntervalSince1970: 1000)
        throttle.record(false, for: "a", now: t0)
        #expect(throttle.reserveTurn(for: "a", now: t0) == 5)
        #expect(throttle.reserveTurn(for: "a", now: t0) == nil)    // would wait 10 s
        #expect(throttle.reserveTurn(for: "a", now: t0 + 61) == 0)
    }
}
