// ConnectionMailbox: requests from other threads (HTTP handlers, VNC clients) to a connection's thread, which owns
// the device and its DMA path. The connection's epoll loop watches `wakeup` and answers everything waiting.
import Display
import Foundation
import Synchronization
import VireoSystem

final class ConnectionMailbox<Request: Sendable, Answer: Sendable>: Sendable {
    private struct Pending: Sendable { var request: Request; var answer: Answer? }
    private let slots = Mutex<[UInt64: Pending]>([:])
    private let nextID = Mutex<UInt64>(0)
    let wakeup: OwnedFD
    private let done = Condition()

    init() throws { wakeup = try EventFD.make() }

    /// Posts a request and waits (bounded) for the connection thread's answer; nil when none came in time.
    func ask(_ request: Request, timeout: TimeInterval) -> Answer? {
        let id = nextID.withLock { $0 += 1; return $0 }
        slots.withLock { $0[id] = Pending(request: request, answer: nil) }
        _ = EventFD.signal(wakeup)
        let deadline = Date() + timeout
        while true {
            if let answer = slots.withLock({ $0[id]?.answer }) {
                slots.withLock { _ = $0.removeValue(forKey: id) }
                return answer
            }
            if Date() >= deadline {
                slots.withLock { _ = $0.removeValue(forKey: id) }
                return nil
            }
            done.wait(until: deadline)
        }
    }

    /// On the connection thread: answers every waiting request.
    func serve(_ answer: (Request) -> Answer) {
        _ = EventFD.drain(wakeup)
        let waiting = slots.withLock { s in s.filter { $0.value.answer == nil }.map { ($0.key, $0.value.request) } }
        for (id, request) in waiting {
            let result = answer(request)
            slots.withLock { if $0[id] != nil { $0[id]!.answer = result } }
        }
        done.broadcast()
    }

    /// The connection ended: whoever waits gets `answer`.
    func cancelAll(with answer: Answer) {
        slots.withLock { s in for k in s.keys where s[k]!.answer == nil { s[k]!.answer = answer } }
        done.broadcast()
    }
}
