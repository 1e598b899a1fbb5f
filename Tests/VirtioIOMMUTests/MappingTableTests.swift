// MappingTable against a plain sorted-array model, with enough mappings that chunks split and empty out, and
// unmaps that span several chunks: every lookup, plan and removal must agree with the model.
import GuestMemory
import Testing
@testable import VirtioIOMMU

@Suite struct MappingTableTests {
    /// The model: a sorted array of (first, last).
    struct Model {
        var ranges: [(first: UInt64, last: UInt64)] = []
        func overlaps(_ f: UInt64, _ l: UInt64) -> Bool { ranges.contains { $0.first <= l && f <= $0.last } }
        func containing(_ a: UInt64) -> UInt64? { ranges.first { $0.first <= a && a <= $0.last }?.first }
        /// nil: a mapping sticks out (split); else the firsts of the mappings inside.
        func plan(_ f: UInt64, _ l: UInt64) -> [UInt64]? {
            let touched = ranges.filter { $0.first <= l && f <= $0.last }
            if touched.contains(where: { $0.first < f || $0.last > l }) { return nil }
            return touched.map(\.first)
        }
    }

    @Test("random MAP/UNMAP/lookups over thousands of mappings agree with a sorted-array model")
    func agreesWithModel() {
        var rng = SeededRNG(state: 0x5eed_2026)
        var table = MappingTable()
        var model = Model()
        var largest = 0
        let page: UInt64 = 4096
        for step in 0..<24_000 {
            // Addresses in 8192 pages; mappings of 1...4 pages; more maps than unmaps early so the table grows.
            let first = UInt64.random(in: 0..<8192, using: &rng) * page
            let last = first + UInt64.random(in: 1...4, using: &rng) * page - 1
            let range = IOVARange(first: first, last: last)!
            let growing = step < 12_000
            if Int.random(in: 0..<10, using: &rng) < (growing ? 7 : 4) {
                if model.overlaps(first, last) {
                    #expect(table.firstOverlap(with: range) != nil)
                } else {
                    #expect(table.firstOverlap(with: range) == nil)
                    table.insert(IOMMUMapping(range: range, phys: first, flags: [.read, .write]))
                    model.ranges.append((first, last))
                    model.ranges.sort { $0.first < $1.first }
                }
            } else {
                // Unmap windows up to 200 pages wide so removals span chunks.
                let wide = first + UInt64.random(in: 1...200, using: &rng) * page - 1
                let window = IOVARange(first: first, last: Int.random(in: 0..<2, using: &rng) == 0 ? last : wide)!
                switch (table.plan(unmapping: window), model.plan(window.first, window.last)) {
                case (.split, nil): break
                case (.remove(let from, let to), let firsts?):
                    let removed = table.remove(from: from, to: to)
                    #expect(removed.map(\.range.first) == firsts)
                    model.ranges.removeAll { firsts.contains($0.first) }
                default:
                    Issue.record("plan disagrees with the model at step \(step) for \(window)")
                    return
                }
            }
            largest = max(largest, table.count)
            let probe = UInt64.random(in: 0..<(8192 * page), using: &rng)
            #expect(table.mapping(containing: probe)?.range.first == model.containing(probe))
            if step % 1000 == 0 {
                #expect(table.entries.map(\.range.first) == model.ranges.map(\.first))
                #expect(table.count == model.ranges.count)
            }
        }
        #expect(table.entries.map(\.range.first) == model.ranges.map(\.first))
        #expect(table.count == model.ranges.count)
        #expect(largest > 3 * MappingTable.chunkCapacity, "the test must make chunks split")
    }
}

@Suite struct TranslationCacheTests {
    /// The last translation is cached per endpoint; every request, reset and config change must forget it, or a
    /// device could keep reaching memory the guest just took away.
    @Test("IOMMU-6.5: after UNMAP, DETACH, a remap read-only, or a reset, a cached translation no longer works")
    func cacheForgotten() throws {
        let page: UInt64 = 4096
        func fresh() -> IOMMUDevice {
            let d = IOMMUDevice(configuration: IOMMUConfiguration(endpoints: [IOMMUEndpointConfig(id: 1)]))
            d.setNegotiatedFeatures(IOMMUDevice.offeredFeatures)
            return d
        }
        func req(_ type: UInt8, _ fields: [Any]) -> [UInt8] {
            var b: [UInt8] = [type, 0, 0, 0]
            for f in fields {
                if let v = f as? UInt32 { b += withUnsafeBytes(of: v.littleEndian, Array.init) }
                if let v = f as? UInt64 { b += withUnsafeBytes(of: v.littleEndian, Array.init) }
            }
            return b
        }
        let attach = req(1, [UInt32(1), UInt32(1), UInt32(0), UInt32(0)])
        let map = { (flags: UInt32) in req(3, [UInt32(1), UInt64(0x10000), UInt64(0x10000 + 16 * page - 1), UInt64(0x200000), flags]) }
        let unmap = req(4, [UInt32(1), UInt64(0x10000), UInt64(0x10000 + 16 * page - 1), UInt32(0)])
        let detach = req(2, [UInt32(1), UInt32(1), UInt32(0), UInt32(0)])
        func ok(_ d: IOMMUDevice, _ r: [UInt8]) { #expect(d.handle(request: r, writableLength: 4).status == .ok) }
        func reachable(_ d: IOMMUDevice, _ access: DMAAccess) -> Bool {
            (try? d.translator(for: 1).translate(0x10000 + page, length: 64, access: access)) != nil
        }

        let d = fresh()
        ok(d, attach); ok(d, map(3))
        #expect(reachable(d, .write) && reachable(d, .write))   // the second from the cache
        ok(d, unmap)
        #expect(!reachable(d, .read) && !reachable(d, .write))
        ok(d, map(1))                                            // read-only now
        #expect(reachable(d, .read))
        #expect(!reachable(d, .write))
        #expect(reachable(d, .read))
        ok(d, detach)
        #expect(!reachable(d, .read))

        let e = fresh()
        ok(e, attach); ok(e, map(3))
        #expect(reachable(e, .read))
        e.reset()
        #expect(!reachable(e, .read))
    }
}
