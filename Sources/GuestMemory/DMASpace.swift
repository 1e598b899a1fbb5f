// DMASpace: the device's view of guest memory. The one seam where a device address may be an IOVA that an IOMMU
// (virtio-iommu domain or vhost-user IOTLB) translates, with the access direction checked.
public enum DMAAccess: Sendable, Equatable, CustomStringConvertible {
    case read    // device reads guest memory (driver-written buffers)
    case write   // device writes guest memory
    public var description: String { self == .read ? "read" : "write" }
}

/// A guest-physical piece of a translated range.
public struct GuestRange: Equatable, Sendable {
    public var address: UInt64
    public var length: UInt64
    public init(address: UInt64, length: UInt64) { self.address = address; self.length = length }
}

/// Translates device addresses (IOVAs) to guest-physical ranges, checking permission for `access`.
/// Returns fragments covering exactly `length` bytes in order, or throws `.translationFault` naming the first
/// byte that could not be translated.
public protocol DMATranslator: Sendable {
    func translate(_ iova: UInt64, length: UInt64, access: DMAAccess) throws(GuestMemoryError) -> [GuestRange]
}

public struct DMASpace: Sendable {
    public var memory: GuestMemory
    /// nil: device addresses are guest-physical (no IOMMU in front of this device).
    public var translator: (any DMATranslator)?

    public init(memory: GuestMemory, translator: (any DMATranslator)? = nil) {
        self.memory = memory
        self.translator = translator
    }

    /// Guest-physical fragments for [address, address+length), checked against memory.
    public func resolve(_ address: UInt64, length: UInt64, access: DMAAccess) throws(GuestMemoryError) -> [GuestRange] {
        let ranges: [GuestRange]
        if let translator {
            ranges = try translator.translate(address, length: length, access: access)
        } else {
            ranges = [GuestRange(address: address, length: length)]
        }
        for r in ranges where !memory.contains(r.address, length: r.length) {
            throw .outOfRange(address: r.address, length: r.length)
        }
        return ranges
    }

    public func read(at address: UInt64, into out: UnsafeMutableRawBufferPointer) throws(GuestMemoryError) {
        guard let translator else { return try memory.read(at: address, into: out) }
        var done = 0
        for r in try translator.translate(address, length: UInt64(out.count), access: .read) {
            try memory.read(at: r.address, into: UnsafeMutableRawBufferPointer(rebasing: out[done..<done + Int(r.length)]))
            done += Int(r.length)
        }
    }

    public func write(at address: UInt64, from bytes: UnsafeRawBufferPointer) throws(GuestMemoryError) {
        guard let translator else { return try memory.write(at: address, from: bytes) }
        var done = 0
        for r in try translator.translate(address, length: UInt64(bytes.count), access: .write) {
            try memory.write(at: r.address, from: UnsafeRawBufferPointer(rebasing: bytes[done..<done + Int(r.length)]))
            done += Int(r.length)
        }
    }

    public func readBytes(at address: UInt64, count: Int) throws(GuestMemoryError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try typedGuestMemoryError { try out.withUnsafeMutableBytes { buf in try read(at: address, into: buf) } }
        return out
    }

    public func writeBytes(_ bytes: [UInt8], at address: UInt64) throws(GuestMemoryError) {
        try typedGuestMemoryError { try bytes.withUnsafeBytes { buf in try write(at: address, from: buf) } }
    }

    @inlinable
    public func load<T: FixedWidthInteger>(_ type: T.Type, at address: UInt64,
                                           access: DMAAccess = .read) throws(GuestMemoryError) -> T {
        guard let translator else { return try memory.load(type, at: address) }
        let r = try translator.translate(address, length: UInt64(MemoryLayout<T>.size), access: access)
        if r.count == 1 { return try memory.load(type, at: r[0].address) }
        var value = T.zero
        try typedGuestMemoryError { try withUnsafeMutableBytes(of: &value) { buf in try read(at: address, into: buf) } }
        return T(littleEndian: value)
    }

    @inlinable
    public func store<T: FixedWidthInteger>(_ value: T, at address: UInt64) throws(GuestMemoryError) {
        guard let translator else { return try memory.store(value, at: address) }
        let r = try translator.translate(address, length: UInt64(MemoryLayout<T>.size), access: .write)
        if r.count == 1 { return try memory.store(value, at: r[0].address) }
        var le = value.littleEndian
        try typedGuestMemoryError { try withUnsafeBytes(of: &le) { buf in try write(at: address, from: buf) } }
    }
}
