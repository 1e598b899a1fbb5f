// DamageRegion: the inline rectangles of damage the VNC mirror takes from a DisplaySet.
import Display
import Testing

@Suite struct DamageRegionTests {
    func rect(_ x: UInt32, _ y: UInt32, _ w: UInt32, _ h: UInt32) -> Rect { Rect(x: x, y: y, width: w, height: h) }

    @Test("Far-apart changes stay separate; touching or overlapping ones merge; empty ones are ignored")
    func separateAndMerge() {
        var region = DamageRegion()
        region.add(rect(0, 0, 10, 10))
        region.add(rect(100, 100, 10, 10))
        region.add(rect(0, 0, 0, 5))
        #expect(region.count == 2)
        region.add(rect(10, 0, 5, 10))        // shares the first one's right edge
        #expect(region.count == 2)
        #expect(region.rects(clippedToWidth: 200, height: 200) == [rect(100, 100, 10, 10), rect(0, 0, 15, 10)])
        region.add(rect(5, 5, 100, 100))      // bridges both: one rectangle
        #expect(region.rects(clippedToWidth: 200, height: 200) == [rect(0, 0, 110, 110)])
    }

    @Test("Past four rectangles the cheapest pair merges; the union always covers every change")
    func capacity() {
        var region = DamageRegion()
        let changes = [rect(0, 0, 2, 2), rect(50, 0, 2, 2), rect(0, 50, 2, 2), rect(50, 50, 2, 2), rect(4, 0, 2, 2)]
        for change in changes { region.add(change) }
        #expect(region.count == 4)
        let rects = region.rects(clippedToWidth: 100, height: 100)
        #expect(rects.contains(rect(0, 0, 6, 2)))   // the new one joined its nearest neighbour
        for change in changes {
            #expect(rects.contains { $0.union(change) == $0 }, "\(change) not covered")
        }
        #expect(region.rects(clippedToWidth: 51, height: 51).allSatisfy { $0.isInside(width: 51, height: 51) })
    }
}
