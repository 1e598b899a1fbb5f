// PixelImage: an 8-bit RGBA picture (a screenshot or a reference PNG) for comparison and search; conversions from and
// to the DisplaySet's BGRX frames, cropping, cursor compositing and PPM output. Pure: no I/O, no HTTP.
import Display

public struct PixelImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Rows of width*4 bytes R, G, B, A, top row first.
    public var rgba: [UInt8]

    public init(width: Int, height: Int, rgba: [UInt8]) {
        precondition(width >= 0 && height >= 0 && rgba.count == width * height * 4, "rgba must be width*height*4 bytes")
        self.width = width; self.height = height; self.rgba = rgba
    }

    /// A BGRX frame (or the `region` of it, which must lie inside) as opaque RGBA.
    public init?(frame: Frame, region: Rect? = nil) {
        let r = region ?? Rect(x: 0, y: 0, width: frame.width, height: frame.height)
        guard r.isInside(width: frame.width, height: frame.height),
              frame.pixels.count >= frame.stride * Int(frame.height) else { return nil }
        let w = Int(r.width), h = Int(r.height), stride = frame.stride
        var out = [UInt8](repeating: 255, count: w * h * 4)
        frame.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for row in 0..<h {
                    var s = (Int(r.y) + row) * stride + Int(r.x) * 4
                    var d = row * w * 4
                    for _ in 0..<w {
                        dst[d] = src[s + 2]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s]
                        s += 4; d += 4
                    }
                }
            }
        }
        self.init(width: w, height: h, rgba: out)
    }

    public var pixelCount: Int { width * height }
    public var bounds: Rect { Rect(x: 0, y: 0, width: UInt32(width), height: UInt32(height)) }

    /// The part inside `rect`, or nil when `rect` does not lie inside the image.
    public func cropped(_ rect: Rect) -> PixelImage? {
        guard rect.isInside(width: UInt32(width), height: UInt32(height)) else { return nil }
        let w = Int(rect.width), h = Int(rect.height)
        var out = [UInt8](repeating: 0, count: w * h * 4)
        for row in 0..<h {
            let s = ((Int(rect.y) + row) * width + Int(rect.x)) * 4
            out.replaceSubrange(row * w * 4 ..< (row + 1) * w * 4, with: rgba[s ..< s + w * 4])
        }
        return PixelImage(width: w, height: h, rgba: out)
    }

    /// As a BGRX frame (alpha dropped), for the PNG encoder.
    public func frame(frameCounter: UInt64 = 0) -> Frame {
        var out = [UInt8](repeating: 0, count: rgba.count)
        var i = 0
        while i < rgba.count {
            out[i] = rgba[i + 2]; out[i + 1] = rgba[i + 1]; out[i + 2] = rgba[i]; out[i + 3] = 255
            i += 4
        }
        return Frame(width: UInt32(width), height: UInt32(height), pixels: out, frameCounter: frameCounter)
    }

    /// Binary PPM (P6): a header and RGB bytes, for tools that want no decoder.
    public var ppm: [UInt8] {
        var out = Array("P6\n\(width) \(height)\n255\n".utf8)
        out.reserveCapacity(out.count + pixelCount * 3)
        var i = 0
        while i < rgba.count {
            out.append(rgba[i]); out.append(rgba[i + 1]); out.append(rgba[i + 2])
            i += 4
        }
        return out
    }
}

extension Frame {
    /// The frame with the guest cursor drawn over it (alpha-blended, straight alpha), when the cursor is visible on
    /// `scanout`. The cursor image's top-left corner goes at (x - hot_x, y - hot_y): virtio-gpu's cursor position
    /// is the pointer's position and the hotspot is the pixel of the image that sits on it. Parts outside the
    /// frame are clipped.
    public func compositing(cursor: CursorState, scanout: Int) -> Frame {
        let side = 64
        guard cursor.visible, Int(cursor.scanout) == scanout, cursor.image.count >= side * side * 4,
              width > 0, height > 0 else { return self }
        var out = self
        let left = Int(cursor.x) - Int(cursor.hotX), top = Int(cursor.y) - Int(cursor.hotY)
        let w = Int(width), h = Int(height), stride = self.stride
        out.pixels.withUnsafeMutableBufferPointer { dst in
            cursor.image.withUnsafeBufferPointer { src in
                for cy in 0..<side {
                    let y = top + cy
                    guard y >= 0, y < h else { continue }
                    for cx in 0..<side {
                        let x = left + cx
                        guard x >= 0, x < w else { continue }
                        let s = (cy * side + cx) * 4
                        let a = Int(src[s + 3])
                        guard a > 0 else { continue }
                        let d = y * stride + x * 4
                        for c in 0..<3 {
                            dst[d + c] = UInt8((Int(src[s + c]) * a + Int(dst[d + c]) * (255 - a) + 127) / 255)
                        }
                    }
                }
            }
        }
        return out
    }
}
