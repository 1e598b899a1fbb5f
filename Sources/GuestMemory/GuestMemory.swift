// GuestMemory: the only path to guest bytes. An immutable snapshot of mapped regions; SET_MEM_TABLE swaps it.
import VireoSystem

public enum GuestMemoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Some byte of [address, address+length) is in no region (or the range wraps).
    case outOfRange(address: UInt64, length: UInt64)
    /// The IOMMU refused the access (no mapping, or the mapping lacks the direction's permission).
    case translationFault(iova: UInt64, length: UInt64, access: DMAAccess)
    /// No translation is known yet (IOTLB miss) and none arrived in time.
    case translationMiss(iova: UInt64, access: DMAAccess)
    public var description: String {
        switch self {
        case .outOfRange(let a, let l): "guest range 0x\(String(a, radix: 16))+\(l) is outside guest memory"
        case .translationFault(let a, let l, let acc): "IOVA 0x\(String(a, radix: 16))+\(l) not mapped for \(acc)"
        case .translationMiss(let a, let acc): "IOVA 0x\(String(a, radix: 16)) has no translation for \(acc)"
        }
    }
}

/// What the frontend says about one region (vhost-user VhostUserMemoryRegion).
public struct MemoryRegionLayout: Equatable, Sendable {
    public var guestPhysAddr: UInt64
    public var memorySize: UInt64
    public var userspaceAddr: UInt64
    public var mmapOffset: UInt64
    public init(guestPhysAddr: UInt64, memorySize: UInt64, userspaceAddr: UInt64, mmapOffset: UInt64) {
        self.guestPhysAddr = guestPhysAddr
        self.memorySize = memorySize
        self.userspaceAddr = userspaceAddr
        self.mmapOffset = mmapOffset
    }
}

public enum MemoryTableError: Error, Equatable, Sendable, CustomStringConvertible {
    case emptyRegion(index: Int)
    case wraps(index: Int)
    case overlapping(Int, Int)
    case tooManyRegions(Int, max: Int)
    case mapFailed(index: Int, reason: String)
    public var description: String {
        switch self {
        case .emptyRegion(let i): "region \(i) has size 0"
        case .wraps(let i): "region \(i) wraps around the address space"
        case .overlapping(let a, let b): "regions \(a) and \(b) overlap"
        case .tooManyRegions(let n, let max): "\(n) regions, at most \(max) allowed"
        case .mapFailed(let i, let r): "region \(i) could not be mapped: \(r)"
        }
    }
}

/// One mapped region. `mapping` covers exactly [guestBase, guestBase+size).
public final class MemoryRegion: Sendable {
    public let layout: MemoryRegionLayout
    @usableFromInline let mapping: MappedFile

    public var guestBase: UInt64 { layout.guestPhysAddr }
    public var size: UInt64 { layout.memorySize }

    /// Maps `layout.memorySize` bytes of `fd` at `layout.mmapOffset`.
    public init(layout: MemoryRegionLayout, fd: OwnedFD) throws(SystemError) {
        self.layout = layout
        mapping = try MappedFile(fd: fd, offset: layout.mmapOffset, length: layout.memorySize)
    }

    /// Offset of `address` in this region when [address, address+length) lies wholly inside, else nil.
    @inlinable @inline(__always) func offset(of address: UInt64, length: UInt64) -> Int? {
        guard address >= guestBase else { return nil }
        let offset = address - guestBase                      // cannot wrap: checked above
        guard offset < size, length <= size - offset else { return nil }   // never `offset + length > size`
        return Int(offset)
    }
}

public struct GuestMemory: Sendable {
    public static let empty = GuestMemory(validated: [])
    public let regions: [MemoryRegion]     // sorted by guestBase, non-overlapping

    private init(validated regions: [MemoryRegion]) { self.regions = regions }

    /// Validates the layout (no empty, wrapping or overlapping regions in guest or user space) and adopts regions.
    public init(regions: [MemoryRegion], maxRegions: Int = 509) throws(MemoryTableError) {
        guard regions.count <= maxRegions else { throw .tooManyRegions(regions.count, max: maxRegions) }
        try Self.validate(regions.map(\.layout))
        self.regions = regions.sorted { $0.guestBase < $1.guestBase }
    }

    /// Checks a region table before anything is mapped.
    public static func validate(_ layouts: [MemoryRegionLayout]) throws(MemoryTableError) {
        for (i, r) in layouts.enumerated() {
            guard r.memorySize > 0 else { throw .emptyRegion(index: i) }
            let (_, g) = r.guestPhysAddr.addingReportingOverflow(r.memorySize - 1)
            let (_, u) = r.userspaceAddr.addingReportingOverflow(r.memorySize - 1)
            let (_, o) = r.mmapOffset.addingReportingOverflow(r.memorySize - 1)
            guard !g, !u, !o else { throw .wraps(index: i) }
        }
        for i in layouts.indices {
            for j in layouts.indices where j > i {
                let a = layouts[i], b = layouts[j]
                // Inclusive ends cannot wrap (checked above).
                let gOverlap = a.guestPhysAddr <= b.guestPhysAddr + (b.memorySize - 1)
                    && b.guestPhysAddr <= a.guestPhysAddr + (a.memorySize - 1)
                let uOverlap = a.userspaceAddr <= b.userspaceAddr + (b.memorySize - 1)
                    && b.userspaceAddr <= a.userspaceAddr + (a.memorySize - 1)
                guard !gOverlap, !uOverlap else { throw .overlapping(i, j) }
            }
        }
    }

    public var totalSize: UInt64 { regions.reduce(0) { $0 + $1.size } }

    /// Guest physical address of a frontend virtual address (vring addresses arrive as those).
    public func guestAddress(ofUserAddress uaddr: UInt64) -> UInt64? {
        for r in regions where uaddr >= r.layout.userspaceAddr && uaddr - r.layout.userspaceAddr < r.size {
            return r.guestBase + (uaddr - r.layout.userspaceAddr)
        }
        return nil
    }

    /// True if every byte of the range is backed.
    public func contains(_ address: UInt64, length: UInt64) -> Bool {
        (try? walk(address, length: length) { _, _, _ in }) != nil
    }

    /// Visits the range piece by piece (a range may cross adjacent regions): (region pointer, count, done so far).
    @inline(__always)
    func walk(_ address: UInt64, length: UInt64,
              _ body: (UnsafeMutableRawPointer, Int, Int) -> Void) throws(GuestMemoryError) {
        let (_, wraps) = address.addingReportingOverflow(length)
        guard !wraps, length <= UInt64(Int.max) else { throw .outOfRange(address: address, length: length) }
        var cursor = address
        var left = length
        var done = 0
        if length == 0 {
            guard regions.contains(where: { $0.offset(of: address, length: 0) != nil }) else {
                throw .outOfRange(address: address, length: length)
            }
            return
        }
        while left > 0 {
            guard let r = region(containing: cursor) else { throw .outOfRange(address: address, length: length) }
            let off = Int(cursor - r.guestBase)
            let chunk = Int(min(left, r.size - UInt64(off)))
            body(r.mapping.base + off, chunk, done)
            cursor += UInt64(chunk)
            left -= UInt64(chunk)
            done += chunk
        }
    }

    @inlinable @inline(__always) func region(containing address: UInt64) -> MemoryRegion? {
        // Few regions (QEMU uses 1-8): a linear scan beats a search.
        for r in regions where address >= r.guestBase && address - r.guestBase < r.size { return r }
        return nil
    }

    public func read(at address: UInt64, into out: UnsafeMutableRawBufferPointer) throws(GuestMemoryError) {
        // Validate the whole range before copying, so a failure copies nothing.
        try walk(address, length: UInt64(out.count)) { _, _, _ in }
        try walk(address, length: UInt64(out.count)) { p, n, done in
            (out.baseAddress! + done).copyMemory(from: p, byteCount: n)
        }
    }

    public func write(at address: UInt64, from bytes: UnsafeRawBufferPointer) throws(GuestMemoryError) {
        try walk(address, length: UInt64(bytes.count)) { _, _, _ in }
        try walk(address, length: UInt64(bytes.count)) { p, n, done in
            p.copyMemory(from: bytes.baseAddress! + done, byteCount: n)
        }
    }

    public func readBytes(at address: UInt64, count: Int) throws(GuestMemoryError) -> [UInt8] {
        guard count > 0 else { try walk(address, length: 0) { _, _, _ in }; return [] }
        var out = [UInt8](repeating: 0, count: count)
        try typedGuestMemoryError { try out.withUnsafeMutableBytes { buf in try read(at: address, into: buf) } }
        return out
    }

    public func writeBytes(_ bytes: [UInt8], at address: UInt64) throws(GuestMemoryError) {
        try typedGuestMemoryError { try bytes.withUnsafeBytes { buf in try write(at: address, from: buf) } }
    }

    /// Little-endian integer load (ring fields). Fast path when inside one region.
    @inlinable @inline(__always)
    public func load<T: FixedWidthInteger>(_: T.Type, at address: UInt64) throws(GuestMemoryError) -> T {
        let width = UInt64(MemoryLayout<T>.size)
        if let r = region(containing: address), let off = r.offset(of: address, length: width) {
            return T(littleEndian: (r.mapping.base + off).loadUnaligned(as: T.self))
        }
        var value = T.zero
        try typedGuestMemoryError { try withUnsafeMutableBytes(of: &value) { buf in try read(at: address, into: buf) } }
        return T(littleEndian: value)
    }

    @inlinable @inline(__always)
    public func store<T: FixedWidthInteger>(_ value: T, at address: UInt64) throws(GuestMemoryError) {
        let width = UInt64(MemoryLayout<T>.size)
        if let r = region(containing: address), let off = r.offset(of: address, length: width) {
            (r.mapping.base + off).storeBytes(of: value.littleEndian, as: T.self)
            return
        }
        var le = value.littleEndian
        try typedGuestMemoryError { try withUnsafeBytes(of: &le) { buf in try write(at: address, from: buf) } }
    }
}

/// Runs `body`, whose only possible error is a GuestMemoryError thrown through a `rethrows` stdlib call
/// (withUnsafeBytes and friends lose typed throws), and restores the type.
@inline(__always)
public func typedGuestMemoryError<R>(_ body: () throws -> R) throws(GuestMemoryError) -> R {
    do { return try body() } catch let error as GuestMemoryError { throw error } catch {
        preconditionFailure("only GuestMemoryError can be thrown here: \(error)")
    }
}
