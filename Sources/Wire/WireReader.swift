// WireReader / WireWriter: little-endian decoding and encoding of wire structs, byte by byte, host order never matters.

public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    public var description: String {
        switch self {
        case .truncated(let needed, let available): "truncated: needed \(needed) bytes, \(available) available"
        }
    }
}

// Readers and writers run per command on the frame path: @inlinable so other modules specialize them.
public struct WireReader: Sendable {
    public let bytes: [UInt8]
    @usableFromInline var position = 0    // invariant: position <= bytes.count
    public var cursor: Int { position }

    @inlinable public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init<S: Sequence>(_ bytes: S) where S.Element == UInt8 { self.bytes = Array(bytes) }

    @inlinable public var remaining: Int { bytes.count - position }

    @inlinable public mutating func read<T: FixedWidthInteger & UnsignedInteger>(_: T.Type = T.self) throws(WireError) -> T {
        let width = MemoryLayout<T>.size
        guard width <= remaining else { throw .truncated(needed: width, available: remaining) }
        var value: T = 0
        for i in 0..<width { value |= T(bytes[position + i]) << (8 * i) }   // byte 0 is least significant
        position += width
        return value
    }

    @inlinable public mutating func readBytes(_ count: Int) throws(WireError) -> [UInt8] {
        guard count >= 0, count <= remaining else { throw .truncated(needed: count, available: remaining) }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    @inlinable public mutating func skip(_ count: Int) throws(WireError) {
        guard count >= 0, count <= remaining else { throw .truncated(needed: count, available: remaining) }
        position += count
    }

    /// The rest, consumed.
    public mutating func readRemaining() -> [UInt8] {
        defer { position = bytes.count }
        return Array(bytes[position...])
    }
}

public struct WireWriter: Sendable {
    @usableFromInline var storage: [UInt8] = []
    public var bytes: [UInt8] { storage }
    @inlinable public init(capacity: Int = 64) { storage.reserveCapacity(capacity) }

    @inlinable public mutating func write<T: FixedWidthInteger & UnsignedInteger>(_ value: T) {
        for i in 0..<MemoryLayout<T>.size { storage.append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
    }
    @inlinable public mutating func write(bytes more: [UInt8]) { storage.append(contentsOf: more) }
    @inlinable public mutating func write(zeros count: Int) { storage.append(contentsOf: repeatElement(0, count: count)) }
}
