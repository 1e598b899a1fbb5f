// PNGDecoder: any PNG to 8-bit RGBA, refusing images over a pixel limit before allocating them (decompression bombs).

/// A decoded picture: rows of width*4 bytes R, G, B, A, top row first.
public struct DecodedImage: Sendable, Equatable {
    public var width: UInt32
    public var height: UInt32
    public var rgba: [UInt8]
    public init(width: UInt32, height: UInt32, rgba: [UInt8]) {
        self.width = width; self.height = height; self.rgba = rgba
    }
}

public enum PNGDecoder {
    /// Decodes `bytes` (any colour type, bit depth, interlacing). Images whose IHDR claims more than `maxPixels`
    /// pixels throw `.tooLarge`; truncated or corrupt data throws `.libpng` with libpng's message.
    public static func decodeRGBA(_ bytes: [UInt8], maxPixels: Int) throws(PNGError) -> DecodedImage {
        try bytes.withUnsafeBufferPointer { (buffer) throws(PNGError) in
            try LibPNG.decodeRGBA(UnsafeRawBufferPointer(buffer), maxPixels: maxPixels)
        }
    }
}
