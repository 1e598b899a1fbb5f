// PNGError: the one error type of PNG encoding and decoding, carrying libpng's own message where there is one.
import Display

public enum PNGError: Error, Equatable, Sendable, CustomStringConvertible {
    /// libpng refused the data or failed (corrupt, truncated or unsupported input); its message.
    case libpng(String)
    /// The image (as its IHDR claims) has more pixels than the caller allows; nothing image-sized was allocated.
    case tooLarge(width: UInt32, height: UInt32, maxPixels: Int)
    /// A frame or region with no pixels (a disabled scanout has a 0x0 frame).
    case empty
    /// The region does not lie inside the frame.
    case regionOutsideFrame(region: Rect, width: UInt32, height: UInt32)
    /// The frame's pixel buffer is shorter than width*4*height.
    case shortPixelBuffer(needed: Int, available: Int)
    /// Options out of range (zlib level outside 0...9).
    case invalidOptions(String)
    case outOfMemory

    public var description: String {
        switch self {
        case .libpng(let message): "libpng: \(message)"
        case .tooLarge(let w, let h, let max): "PNG of \(w)x\(h) exceeds the limit of \(max) pixels"
        case .empty: "image has no pixels"
        case .regionOutsideFrame(let r, let w, let h): "region \(r) is not inside the \(w)x\(h) frame"
        case .shortPixelBuffer(let needed, let available): "pixel buffer has \(available) bytes, needs \(needed)"
        case .invalidOptions(let why): "invalid PNG options: \(why)"
        case .outOfMemory: "out of memory"
        }
    }
}
