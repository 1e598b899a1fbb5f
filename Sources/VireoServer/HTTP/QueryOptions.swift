// QueryOptions: the query parameters of one request, parsed strictly: unknown or repeated keys, signs, non-digits
// and out-of-range numbers are 400s with a message naming the parameter.
import DisplayPNG
import Display
import DisplayCompare
import Foundation
import Hummingbird
import HummingbirdCore

/// How to take a screenshot: which part, with the cursor or not, and what to wait for first.
struct ShotOptions: Sendable {
    var region: Rect?
    var cursor = false
    /// wait=settled: no damage for this many ms before the picture is taken.
    var settledQuietMs: Int?
    /// Long-poll: the display's frame counter must pass this first.
    var afterFrame: UInt64?
    var timeoutMs = 10_000
    /// `compression=fast|compact|small`; nil: the server's default (`--png-compression`).
    var compression: PNGOptions?
    var waits: Bool { settledQuietMs != nil || afterFrame != nil }

    /// The region, checked against the frame actually taken (400 when it does not lie inside).
    func checkedRegion(in frame: Frame) throws(APIError) -> Rect? {
        guard let region else { return nil }
        guard region.isInside(width: frame.width, height: frame.height) else {
            throw .badRequest("region \(region.x),\(region.y),\(region.width),\(region.height) is not inside the \(frame.width)x\(frame.height) display")
        }
        return region
    }
}

struct QueryOptions {
    static let shotKeys: Set<String> = ["region", "cursor", "wait", "quiet_ms", "timeout_ms", "after_frame", "compression"]
    static let toleranceKeys: Set<String> = ["channel_delta", "max_diff_pixels", "max_diff_fraction"]
    static let maxQuietMs = 60_000

    private var values: [String: [String]] = [:]
    private var unknown: [String] = []

    init(_ uri: URI, allowed: Set<String>) {
        for (key, value) in uri.queryParameters {
            let k = String(key)
            if allowed.contains(k) { values[k, default: []].append(String(value)) } else { unknown.append(k) }
        }
    }

    func checkNoneLeft() throws(APIError) {
        if let first = unknown.first { throw .badRequest("unknown query parameter '\(first.prefix(40))'") }
    }

    private func single(_ key: String) throws(APIError) -> String? {
        guard let all = values[key] else { return nil }
        guard all.count == 1 else { throw .badRequest("\(key) given more than once") }
        return all[0]
    }

    /// A non-negative integer of at most `range.upperBound`, digits only.
    func integer(_ key: String, _ range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let text = try single(key) else { return nil }
        guard let value = Self.digits(text, maxDigits: 18).flatMap({ Int($0) }), range.contains(value) else {
            throw .badRequest("\(key)=\(text.prefix(40)): expected an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    func unsigned64(_ key: String) throws(APIError) -> UInt64? {
        guard let text = try single(key) else { return nil }
        guard let value = Self.digits(text, maxDigits: 20).flatMap({ UInt64($0) }) else {
            throw .badRequest("\(key)=\(text.prefix(40)): expected a non-negative integer")
        }
        return value
    }

    func fraction(_ key: String) throws(APIError) -> Double? {
        guard let text = try single(key) else { return nil }
        guard text.count <= 20, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              let value = Double(text), value.isFinite, (0...1).contains(value) else {
            throw .badRequest("\(key)=\(text.prefix(40)): expected a number in 0...1")
        }
        return value
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        guard let text = try single(key) else { return nil }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw .badRequest("\(key)=\(text.prefix(40)): expected true or false")
        }
    }

    func rect(_ key: String) throws(APIError) -> Rect? {
        guard let text = try single(key) else { return nil }
        return try Self.parseRect(key, text)
    }

    func rects(_ key: String) throws(APIError) -> [Rect] {
        let all = values[key] ?? []
        guard all.count <= 256 else { throw .badRequest("at most 256 \(key) parameters") }
        var out: [Rect] = []
        for text in all { out.append(try Self.parseRect(key, text)) }
        return out
    }

    /// "x,y,w,h": four non-negative 32-bit integers, width and height at least 1.
    static func parseRect(_ key: String, _ text: String) throws(APIError) -> Rect {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let numbers = parts.compactMap { digits(String($0), maxDigits: 10).flatMap { UInt32($0) } }
        guard parts.count == 4, numbers.count == 4, numbers[2] > 0, numbers[3] > 0 else {
            throw .badRequest("\(key)=\(text.prefix(60)): expected x,y,width,height (non-negative integers, width and height at least 1)")
        }
        return Rect(x: numbers[0], y: numbers[1], width: numbers[2], height: numbers[3])
    }

    private static func digits(_ text: String, maxDigits: Int) -> String? {
        guard !text.isEmpty, text.count <= maxDigits, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return text
    }

    /// region, cursor, wait=settled, quiet_ms (implies wait=settled), after_frame, timeout_ms.
    func shotOptions(maxTimeoutMs: Int) throws(APIError) -> ShotOptions {
        var shot = ShotOptions()
        shot.region = try rect("region")
        shot.cursor = try bool("cursor") ?? false
        if let wait = try single("wait") {
            guard wait == "settled" else { throw .badRequest("wait=\(wait.prefix(40)): the only wait is 'settled'") }
            shot.settledQuietMs = 500
        }
        if let quiet = try integer("quiet_ms", 1...Self.maxQuietMs) { shot.settledQuietMs = quiet }
        shot.afterFrame = try unsigned64("after_frame")
        if let timeout = try integer("timeout_ms", 0...maxTimeoutMs) { shot.timeoutMs = timeout }
        if let name = try single("compression") {
            guard let options = PNGOptions.preset(named: name) else {
                throw .badRequest("compression=\(name.prefix(40)): expected one of \(PNGOptions.presets.map(\.name).joined(separator: ", "))")
            }
            shot.compression = options
        }
        return shot
    }

    /// channel_delta (0...255), max_diff_pixels, max_diff_fraction (0...1).
    func tolerance() throws(APIError) -> Tolerance {
        Tolerance(channelDelta: try integer("channel_delta", 0...255) ?? 0,
                  maxDifferingPixels: try integer("max_diff_pixels", 0...Int(Int32.max)),
                  maxDifferingFraction: try fraction("max_diff_fraction"))
    }
}
