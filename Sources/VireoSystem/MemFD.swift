// MemFD and MappedFile: anonymous shared memory (guest RAM in tests) and shared mappings of passed descriptors.
import CVireoSystem
import Glibc

public enum MemFD {
    public static func make(name: String, size: UInt64) throws(SystemError) -> OwnedFD {
        let raw = cvireo_memfd_create(name, cvireo_mfd_cloexec())
        guard raw >= 0 else { throw SystemError("memfd_create") }
        let fd = OwnedFD(taking: raw)
        guard ftruncate(raw, off_t(size)) == 0 else { throw SystemError("ftruncate") }
        return fd
    }
}

/// A MAP_SHARED mapping, unmapped in deinit. Pointers never leave this module except inside `withUnsafe…` calls
/// of the types built on it.
public final class MappedFile: @unchecked Sendable {
    // Sendable: the mapping is fixed for its lifetime; concurrent byte access is the guest's shared-memory contract.
    public let base: UnsafeMutableRawPointer
    public let length: Int

    /// Maps `length` bytes of `fd` from `offset` read-write.
    public init(fd: OwnedFD, offset: UInt64, length: UInt64) throws(SystemError) {
        guard length > 0, length <= UInt64(Int.max), offset <= UInt64(Int64.max) else {
            throw SystemError("mmap", errno: EINVAL)
        }
        let p = mmap(nil, Int(length), cvireo_prot_read() | cvireo_prot_write(), cvireo_map_shared(),
                     fd.rawValue, off_t(offset))
        guard let p, p != cvireo_map_failed() else { throw SystemError("mmap") }
        base = p
        self.length = Int(length)
    }
    deinit { munmap(base, length) }
}
