// LibPNG: the only file that imports CPNG. Validated buffers go in, Swift arrays and typed errors come out; the C
// buffers are copied and freed here.
import CPNG

enum LibPNG {
    private static let messageCapacity = 256

    /// Which C encoder writes the PNG.
    enum Engine {
        /// cpng_encode_bgrx_strips: the PNG written with zlib, strips deflated in parallel (the encoder in use).
        case strips
        /// cpng_encode_bgrx_strategy: libpng's writer, one thread (the reference for tests and benchmarks).
        case libpng
    }

    /// Encodes width x height BGRX pixels starting at `base` (rows `stride` bytes apart). The caller has checked
    /// that the pointer covers (height-1)*stride + width*4 bytes.
    static func encodeBGRX(_ base: UnsafePointer<UInt8>, width: UInt32, height: UInt32, stride: Int,
                           options: PNGOptions, engine: Engine = .strips) throws(PNGError) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var outLength = 0
        var message = [CChar](repeating: 0, count: messageCapacity)
        let status = switch engine {
        case .strips:
            cpng_encode_bgrx_strips(base, width, height, stride, Int32(options.zlibLevel), options.filter.rawValue,
                                    options.strategy.rawValue, Int32(clamping: options.threads), &out, &outLength,
                                    &message, messageCapacity)
        case .libpng:
            cpng_encode_bgrx_strategy(base, width, height, stride, Int32(options.zlibLevel),
                                      options.filter.rawValue, options.strategy.rawValue, &out,
                                      &outLength, &message, messageCapacity)
        }
        defer { cpng_free(out) }
        guard status == Int32(CPNG_OK), let out else {
            throw error(status, message)
        }
        return [UInt8](UnsafeBufferPointer(start: out, count: outLength))
    }

    static func decodeRGBA(_ bytes: UnsafeRawBufferPointer, maxPixels: Int) throws(PNGError) -> DecodedImage {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var outLength = 0
        var width: UInt32 = 0, height: UInt32 = 0
        var message = [CChar](repeating: 0, count: messageCapacity)
        let data = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let status = cpng_decode_rgba(data, bytes.count, UInt64(max(0, maxPixels)), &out, &outLength, &width,
                                      &height, &message, messageCapacity)
        defer { cpng_free(out) }
        if status == Int32(CPNG_ERR_TOO_LARGE) {
            throw .tooLarge(width: width, height: height, maxPixels: maxPixels)
        }
        guard status == Int32(CPNG_OK), let out else { throw error(status, message) }
        let rgba = [UInt8](UnsafeBufferPointer(start: out, count: outLength))
        return DecodedImage(width: width, height: height, rgba: rgba)
    }

    private static func error(_ status: Int32, _ message: [CChar]) -> PNGError {
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        switch status {
        case Int32(CPNG_ERR_NO_MEMORY): return .outOfMemory
        case Int32(CPNG_ERR_ARGUMENT): return .invalidOptions(text)
        default: return .libpng(text.isEmpty ? "unknown error (status \(status))" : text)
        }
    }
}
