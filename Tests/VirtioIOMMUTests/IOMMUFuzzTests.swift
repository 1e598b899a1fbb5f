// Property test: random requests and DMA never trap and never break the limits or the table's invariants.
import GuestMemory
import Testing
@testable import VirtioIOMMU

struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {       // SplitMix64: seeded, so a failure can be replayed
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

@Suite struct IOMMUFuzzTests {
    @Test("IOMMU-6.1: random requests never trap and keep the limits", arguments: [1, 2, 3] as [UInt64])
    func randomRequests(seed: UInt64) {
        var rng = SeededRNG(state: seed)
        let d = makeDevice(endpoints: (0..<4).map { IOMMUEndpointConfig(id: $0) }) {
            $0.maxMappings = 32; $0.maxDomains = 3; $0.maxMappedBytes = 0x40_000; $0.maxPendingFaults = 16
            $0.domainRange = 0...5
        }
        func small() -> UInt32 { UInt32.random(in: 0...6, using: &rng) }
        func addr() -> UInt64 {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: UInt64.random(in: 0...32, using: &rng) * 0x1000
            case 1: UInt64.random(in: 0...32, using: &rng) * 0x1000 + 0xfff
            case 2: rng.next()
            default: 0xfee0_0000 + UInt64.random(in: 0...0x100, using: &rng) * 0x1000
            }
        }
        for _ in 0..<5000 {
            var req: [UInt8]
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: req = (0..<Int.random(in: 0..<80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 1: req = Req.attach(domain: small(), endpoint: small(), flags: UInt32.random(in: 0...2, using: &rng))
            case 2: req = Req.detach(domain: small(), endpoint: small())
            case 3, 4: req = Req.map(domain: small(), start: addr(), end: addr(), phys: addr(),
                                     flags: UInt32.random(in: 0...8, using: &rng))
            case 5: req = Req.unmap(domain: small(), start: addr(), end: addr())
            case 6: req = Req.probe(endpoint: small())
            default:
                _ = d.dma(small(), addr(), UInt64.random(in: 0...0x3000, using: &rng), Bool.random(using: &rng) ? .read : .write)
                continue
            }
            if Int.random(in: 0..<10, using: &rng) == 0 { req = Array(req.prefix(Int.random(in: 0...req.count, using: &rng))) }
            let writable = [0, 3, 4, 100, 516, 600, Int.random(in: -5...70_000, using: &rng)].randomElement(using: &rng)!
            let r = d.handle(request: req, writableLength: writable)
            #expect(r.response.isEmpty || r.response.count == writable)
            if Int.random(in: 0..<50, using: &rng) == 0 { d.writeConfig(offset: UInt32.random(in: 30...40, using: &rng), bytes: [0xff]) }
            let u = d.usage
            #expect(u.mappings <= 32 && u.domains <= 3 && u.mappedBytes <= 0x40_000 && d.pendingFaultCount <= 16)
            #expect(d.configSpace[36] <= 1)
        }
        // Every domain's table is sorted and disjoint, and the counts agree.
        d.state.withLock { s in
            var count = 0
            var bytes: UInt64 = 0
            for domain in s.domains.values {
                let e = domain.mappings.entries
                for i in e.indices.dropFirst() { #expect(e[i - 1].range.last < e[i].range.first) }
                count += e.count
                bytes += e.reduce(0) { $0 + $1.range.sizeMinusOne + 1 }
            }
            #expect(count == s.mappingCount && bytes == s.mappedBytes)
        }
    }
}
