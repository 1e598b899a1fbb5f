// PNGEncoder: a display Frame (BGRX) or a rectangle of it to an 8-bit RGB PNG.
import Display

public enum PNGEncoder {
    /// Encodes the whole frame. A 0x0 frame (disabled scanout) throws `.empty`.
    public static func encode(_ frame: Frame, options: PNGOptions = .fast) throws(PNGError) -> [UInt8] {
        try encode(frame, region: Rect(x: 0, y: 0, width: frame.width, height: frame.height), options: options)
    }

    /// Encodes `region` of the frame; the region must lie wholly inside it (no silent clipping).
    public static func encode(_ frame: Frame, region: Rect, options: PNGOptions = .fast) throws(PNGError) -> [UInt8] {
        try encode(frame, region: region, options: options, engine: .strips)
    }

    /// The same picture written by libpng on one thread (`options.threads` is ignored): the previous encoder, kept
    /// as a reference for tests and benchmarks. Not for production use.
    public static func _encodeWithLibPNG(_ frame: Frame, region: Rect? = nil,
                                         options: PNGOptions = .fast) throws(PNGError) -> [UInt8] {
        try encode(frame, region: region ?? Rect(x: 0, y: 0, width: frame.width, height: frame.height),
                   options: options, engine: .libpng)
    }

    private static func encode(_ frame: Frame, region: Rect, options: PNGOptions,
                               engine: LibPNG.Engine) throws(PNGError) -> [UInt8] {
        guard (0...9).contains(options.zlibLevel) else { throw .invalidOptions("zlib level \(options.zlibLevel)") }
        guard options.threads >= 0 else { throw .invalidOptions("threads \(options.threads)") }
        guard region.isInside(width: frame.width, height: frame.height) else {
            throw .regionOutsideFrame(region: region, width: frame.width, height: frame.height)
        }
        guard !region.isEmpty else { throw .empty }
        let stride = frame.stride
        // Every byte the encoder reads: up to the end of the frame's last row, fits in Int (width, height < 2^32).
        let needed = Int(frame.height) * stride
        guard frame.pixels.count >= needed else {
            throw .shortPixelBuffer(needed: needed, available: frame.pixels.count)
        }
        let offset = Int(region.y) * stride + Int(region.x) * 4   // inside: region checked against the frame above
        return try frame.pixels.withUnsafeBufferPointer { (buffer) throws(PNGError) in
            try LibPNG.encodeBGRX(buffer.baseAddress! + offset, width: region.width, height: region.height,
                                  stride: stride, options: options, engine: engine)
        }
    }
}
