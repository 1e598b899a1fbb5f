// PixelConversion: row conversion from the eight virtio-gpu formats to the display's B,G,R,X byte order.

extension GPUFormat {
    /// How a little-endian 32-bit pixel word is rearranged so its bytes read B, G, R, A/X.
    enum Shuffle { case none, reverse, swapRB, rotate8 }

    var shuffle: Shuffle {
        switch self {
        case .b8g8r8a8Unorm, .b8g8r8x8Unorm: .none          // bytes B,G,R,A already
        case .a8r8g8b8Unorm, .x8r8g8b8Unorm: .reverse       // bytes A,R,G,B
        case .r8g8b8a8Unorm, .r8g8b8x8Unorm: .swapRB        // bytes R,G,B,A
        case .x8b8g8r8Unorm, .a8b8g8r8Unorm: .rotate8       // bytes A,B,G,R
        }
    }

    /// Converts `count` pixels from `src` to `dst` (B,G,R then the source's fourth channel, A or X).
    /// `opaque`: force the fourth byte to 0xff when the format has no alpha (for cursor images).
    func convertRow(from src: UnsafeRawPointer, to dst: UnsafeMutableRawPointer, count: Int, opaque: Bool = false) {
        let fill: UInt32 = opaque && hasPaddingChannel ? 0xff00_0000 : 0
        switch shuffle {
        case .none where fill == 0:
            dst.copyMemory(from: src, byteCount: count * 4)
        case .none:
            Self.map(src, dst, count) { $0 | fill }
        case .reverse:
            Self.map(src, dst, count) { $0.byteSwapped | fill }
        case .swapRB:
            Self.map(src, dst, count) { ($0 & 0xff00_ff00) | (($0 >> 16) & 0xff) | (($0 & 0xff) << 16) | fill }
        case .rotate8:
            Self.map(src, dst, count) { (($0 >> 8) | ($0 << 24)) | fill }
        }
    }

    @inline(__always)
    private static func map(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ count: Int,
                            _ f: (UInt32) -> UInt32) {
        for i in 0..<count {
            let w = UInt32(littleEndian: src.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
            dst.storeBytes(of: f(w).littleEndian, toByteOffset: i * 4, as: UInt32.self)
        }
    }
}
