// WireReader / WireWriter: little-endian decoding and encoding of wire structs, byte by byte, host order never matters.

public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    public var description: String {
        switch self {
        case .truncated(let needed, let available): "truncated: needed \(needed) bytes, \(available) available"
        }
    }
}

public struct WireReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var cursor = 0    // invariant: cursor <= bytes.count

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init<S: Sequence>(_ bytes: S) where S.Element == UInt8 { self.bytes = Array(bytes) }

    public var remaining: Int { bytes.count - cursor }

    public mutating func read<T: FixedWidthInteger & UnsignedInteger>(_: T.Type = T.self) throws(WireError) -> T {
        let width = MemoryLayout<T>.size
        guard width <= remaining else { throw .truncated(needed: width, available: remaining) }
        var value: T = 0
        for i in 0..<width { value |= T(bytes[cursor + i]) << (8 * i) }   // byte 0 is least significant
        cursor += width
        return value
    }

    public mutating func readBytes(_ count: Int) throws(WireError) -> [UInt8] {
        guard count >= 0, count <= remaining else { throw .truncated(needed: count, available: remaining) }
        defer { cursor += count }
        return Array(bytes[cursor..<cursor + count])
    }

    public mutating func skip(_ count: Int) throws(WireError) {
        guard count >= 0, count <= remaining else { throw .truncated(needed: count, available: remaining) }
        cursor += count
    }

    /// The rest, consumed.
    public mutating func readRemaining() -> [UInt8] {
        defer { cursor = bytes.count }
        return Array(bytes[cursor...])
    }
}

public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    public mutating func write<T: FixedWidthInteger & UnsignedInteger>(_ value: T) {
        for i in 0..<MemoryLayout<T>.size { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
    }
    public mutating func write(bytes more: [UInt8]) { bytes.append(contentsOf: more) }
    public mutating func write(zeros count: Int) { bytes.append(contentsOf: repeatElement(0, count: count)) }
}
