// Property tests: random requests never trap and never break the device's limits.
import Display
import Testing
@testable import VirtioGPU

/// SplitMix64: seeded, so a failure can be replayed.
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

@Suite struct GPUFuzzTests {
    @Test("GPU2D-5: random request bytes never trap", arguments: [1, 2, 3] as [UInt64])
    func randomRequests(seed: UInt64) throws {
        var limits = GPUDeviceLimits()
        limits.hostMemoryQuota = 1 << 20
        limits.maxResources = 16
        let h = try Harness(scanouts: 2, limits: limits)
        var rng = SeededRNG(state: seed)
        let types = GPUCommandType.allCases.map(\.rawValue) + [0, 0x1100, 0x0110, .max]
        for _ in 0..<4000 {
            var req: [UInt8]
            if Int.random(in: 0..<10, using: &rng) == 0 {
                req = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                let type = types.randomElement(using: &rng)!
                let flags = UInt32.random(in: 0...3, using: &rng)
                req = Req.hdr(type, flags: flags, fence: rng.next(), ctx: UInt32.random(in: 0...2, using: &rng))
                // Mostly small fields (ids, sizes, addresses near guest memory) so commands get past lookups.
                for _ in 0..<Int.random(in: 0..<12, using: &rng) {
                    let word: UInt32 = switch Int.random(in: 0..<4, using: &rng) {
                    case 0: UInt32.random(in: 0...8, using: &rng)
                    case 1: UInt32.random(in: 0...70, using: &rng)
                    case 2: UInt32(TestGuest.base0 >> 0) &+ UInt32.random(in: 0...0x20_0000, using: &rng)
                    default: UInt32.random(in: 0...UInt32.max, using: &rng)
                    }
                    for i in 0..<4 { req.append(UInt8(truncatingIfNeeded: word >> (8 * i))) }
                }
            }
            let queue: GPUQueue = Bool.random(using: &rng) ? .control : .cursor
            let r = h.send(req, queue: queue)
            #expect(r.response.count >= 24)
            #expect(Harness.type(of: r.response) != nil)
            #expect(h.device.usedHostMemory <= limits.hostMemoryQuota)
            #expect(h.device.resourceCount <= limits.maxResources)
        }
    }
}
