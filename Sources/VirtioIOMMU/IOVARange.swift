// IOVARange: an IOVA interval with an inclusive end, like the spec's virt_start/virt_end. Never empty, never wraps.

public struct IOVARange: Hashable, Sendable, CustomStringConvertible {
    /// The first address in the range (virt_start).
    public let first: UInt64
    /// The last address in the range, inclusive (virt_end).
    public let last: UInt64

    /// nil when `first > last` (an inverted range has no meaning).
    public init?(first: UInt64, last: UInt64) {
        guard first <= last else { return nil }
        self.first = first
        self.last = last
    }

    /// nil for a zero length or a range that would wrap past 2^64.
    public init?(start: UInt64, length: UInt64) {
        guard length > 0 else { return nil }
        let (last, overflow) = start.addingReportingOverflow(length - 1)
        guard !overflow else { return nil }
        self.first = start
        self.last = last
    }

    /// The whole 64-bit space.
    public static let all = IOVARange(first: 0, last: .max)!

    /// `last - first`: the size minus one. The full 64-bit range has 2^64 bytes, which no UInt64 holds.
    public var sizeMinusOne: UInt64 { last - first }
    /// The size in bytes, nil only for the full 64-bit range.
    public var size: UInt64? { sizeMinusOne == .max ? nil : sizeMinusOne + 1 }

    public func contains(_ address: UInt64) -> Bool { first <= address && address <= last }
    public func contains(_ other: IOVARange) -> Bool { first <= other.first && other.last <= last }
    public func overlaps(_ other: IOVARange) -> Bool { first <= other.last && other.first <= last }

    /// Both `first` and `last + 1` are multiples of `granule` (a power of two); `last + 1` is never computed, so
    /// a range ending at 2^64 - 1 is aligned too.
    public func isAligned(to granule: UInt64) -> Bool {
        precondition(granule > 0 && granule & (granule - 1) == 0, "granule must be a power of two")
        let mask = granule - 1
        return first & mask == 0 && last & mask == mask
    }

    public var description: String { "[0x\(String(first, radix: 16)), 0x\(String(last, radix: 16))]" }
}
