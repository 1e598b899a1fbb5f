// IOTLB: translations the frontend's IOMMU hands out (vhost-user IOTLB, VIRTIO_F_ACCESS_PLATFORM): IOVA ranges
// mapped to guest-physical ranges with read/write permission. A device access through it is checked for its
// direction; a range nobody has described yet is a miss, which the owner may resolve (ask the frontend) and retry.
import Synchronization

public struct IOTLBPermission: OptionSet, Sendable, Equatable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let read = IOTLBPermission(rawValue: 1)    // VHOST_ACCESS_RO
    public static let write = IOTLBPermission(rawValue: 2)   // VHOST_ACCESS_WO
    public static let readWrite: IOTLBPermission = [.read, .write]
    public init(_ access: DMAAccess) { self = access == .read ? .read : .write }
}

public struct IOTLBEntry: Equatable, Sendable {
    public var iova: UInt64
    public var size: UInt64          // > 0; iova + size - 1 does not wrap
    public var guestAddress: UInt64
    public var permission: IOTLBPermission
    public init(iova: UInt64, size: UInt64, guestAddress: UInt64, permission: IOTLBPermission) {
        self.iova = iova; self.size = size; self.guestAddress = guestAddress; self.permission = permission
    }
    var last: UInt64 { iova + (size - 1) }
}

public final class IOTLB: DMATranslator, @unchecked Sendable {
    // Sendable: the entries sit behind a Mutex; `missHandler` is set once by the owner before use.
    private let entries = Mutex<[IOTLBEntry]>([])   // sorted by iova, non-overlapping
    /// Most entries kept: a frontend cannot make the backend grow without bound.
    public let capacity: Int
    /// Called on a miss (same thread as the access): ask for the translation, wait a bounded time for it, and
    /// return true when the caller should look again.
    public nonisolated(unsafe) var missHandler: ((_ iova: UInt64, _ access: DMAAccess) -> Bool)?
    /// Called on a permission failure, so the owner can report it (VHOST_IOTLB_ACCESS_FAIL).
    public nonisolated(unsafe) var accessFailureHandler: ((_ iova: UInt64, _ access: DMAAccess) -> Void)?

    public init(capacity: Int = 65536) { self.capacity = capacity }

    public var count: Int { entries.withLock { $0.count } }

    public enum UpdateError: Error, Equatable, CustomStringConvertible {
        case empty, wraps, full(Int)
        public var description: String {
            switch self {
            case .empty: "IOTLB update of size 0"
            case .wraps: "IOTLB update wraps around the address space"
            case .full(let n): "IOTLB holds \(n) entries already"
            }
        }
    }

    /// Adds a translation, replacing whatever overlapped it.
    public func update(_ entry: IOTLBEntry) throws(UpdateError) {
        guard entry.size > 0 else { throw .empty }
        let (_, w1) = entry.iova.addingReportingOverflow(entry.size - 1)
        let (_, w2) = entry.guestAddress.addingReportingOverflow(entry.size - 1)
        guard !w1, !w2 else { throw .wraps }
        try entries.withLock { (list) throws(UpdateError) in
            list.removeAll { $0.iova <= entry.last && entry.iova <= $0.last }
            guard list.count < capacity else { throw .full(list.count) }
            let at = list.firstIndex { $0.iova > entry.iova } ?? list.endIndex
            list.insert(entry, at: at)
        }
    }

    /// Drops every translation overlapping [iova, iova+size) (VHOST_IOTLB_INVALIDATE).
    public func invalidate(iova: UInt64, size: UInt64) {
        guard size > 0 else { return }
        let last = iova &+ (size - 1) < iova ? UInt64.max : iova + (size - 1)
        entries.withLock { $0.removeAll { $0.iova <= last && iova <= $0.last } }
    }

    public func removeAll() { entries.withLock { $0.removeAll() } }

    public func translate(_ iova: UInt64, length: UInt64, access: DMAAccess) throws(GuestMemoryError) -> [GuestRange] {
        // A range may need many translations (a guest maps page by page): ask for each missing piece in turn,
        // as long as every answer moves the first missing byte forward.
        var lastMiss: UInt64?
        while true {
            do {
                return try lookup(iova, length: length, access: access)
            } catch .translationMiss(let missAt, _) {
                if let lastMiss, missAt <= lastMiss { throw .translationMiss(iova: missAt, access: access) }
                lastMiss = missAt
                guard let missHandler, missHandler(missAt, access) else {
                    throw .translationMiss(iova: missAt, access: access)
                }
            } catch .translationFault(let at, let len, let acc) {
                accessFailureHandler?(at, acc)
                throw .translationFault(iova: at, length: len, access: acc)
            }
        }
    }

    /// True when some entry translates `iova`, whatever its permission (no one is asked on a miss).
    public func covers(_ iova: UInt64) -> Bool {
        entries.withLock { list in list.contains { $0.iova <= iova && iova <= $0.last } }
    }

    /// Fragments for the whole range, or the first byte without a translation / with the wrong permission.
    func lookup(_ iova: UInt64, length: UInt64, access: DMAAccess) throws(GuestMemoryError) -> [GuestRange] {
        let (_, wraps) = iova.addingReportingOverflow(length)
        guard !wraps else { throw .translationFault(iova: iova, length: length, access: access) }
        let needed = IOTLBPermission(access)
        return try entries.withLock { (list) throws(GuestMemoryError) -> [GuestRange] in
            var out: [GuestRange] = []
            var cursor = iova
            var left = length
            // Binary search for the last entry starting at or before the cursor.
            var lo = 0, hi = list.count
            while lo < hi { let mid = (lo + hi) / 2; if list[mid].iova <= cursor { lo = mid + 1 } else { hi = mid } }
            var i = lo - 1
            repeat {
                guard i >= 0, i < list.count, list[i].iova <= cursor, cursor <= list[i].last else {
                    throw .translationMiss(iova: cursor, access: access)
                }
                let e = list[i]
                guard e.permission.contains(needed) else {
                    throw .translationFault(iova: cursor, length: left, access: access)
                }
                let offset = cursor - e.iova
                let chunk = min(left, e.size - offset)   // e.size - offset >= 1
                if chunk > 0 { out.append(GuestRange(address: e.guestAddress + offset, length: chunk)) }
                left -= chunk
                if left == 0 { break }
                cursor += chunk
                i += 1
            } while true
            if out.isEmpty { out.append(GuestRange(address: list[max(0, lo - 1)].guestAddress + (iova - list[max(0, lo - 1)].iova), length: 0)) }
            return out
        }
    }
}
