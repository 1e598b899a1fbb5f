// DescriptorChain: a walked, checked descriptor chain (virtio 2.7.5, 2.7.5.3 indirect): device-readable buffers
// first, then device-writable ones, each inside memory the device may access in that direction.
import GuestMemory

public struct ChainBuffer: Equatable, Sendable {
    public var address: UInt64
    public var length: UInt32
}

public enum ChainError: Error, Equatable, Sendable, CustomStringConvertible {
    case tooLong(limit: Int)
    case nextOutOfRange(UInt16)
    case readableAfterWritable
    case nestedIndirect
    case indirectWithNext
    case badIndirectLength(UInt32)
    case bufferOutsideMemory(address: UInt64, length: UInt32, writable: Bool)
    case descriptorUnreadable(UInt64)
    /// Behind an IOMMU: a translation is not known yet; the chain is left in the ring and retried.
    case translationMiss(UInt64)
    public var description: String {
        switch self {
        case .tooLong(let l): "chain longer than \(l) descriptors (a loop?)"
        case .nextOutOfRange(let n): "next index \(n) outside the table"
        case .readableAfterWritable: "device-readable descriptor after a device-writable one"
        case .nestedIndirect: "indirect descriptor inside an indirect table"
        case .indirectWithNext: "indirect descriptor with NEXT set"
        case .badIndirectLength(let l): "indirect table length \(l) is not a non-zero multiple of 16"
        case .bufferOutsideMemory(let a, let l, let w):
            "\(w ? "writable" : "readable") buffer 0x\(String(a, radix: 16))+\(l) outside reachable memory"
        case .descriptorUnreadable(let a): "descriptor at 0x\(String(a, radix: 16)) unreadable"
        case .translationMiss(let a): "no IOMMU translation yet for 0x\(String(a, radix: 16))"
        }
    }
}

/// A chain that failed its checks; `head` still goes back to the driver (used, length 0).
public struct BadChain: Error, Equatable, Sendable {
    public let head: UInt16
    public let error: ChainError
}

public struct DescriptorChain: Sendable {
    public let head: UInt16
    public var readable: [ChainBuffer] = []
    public var writable: [ChainBuffer] = []

    static let flagNext: UInt16 = 1, flagWrite: UInt16 = 2, flagIndirect: UInt16 = 4
    /// An indirect table may hold at most this many descriptors (Linux never uses more than the queue size).
    public static let maxIndirectEntries: UInt32 = 32768

    public var readableLength: UInt64 { readable.reduce(0) { $0 + UInt64($1.length) } }
    public var writableLength: UInt64 { writable.reduce(0) { $0 + UInt64($1.length) } }

    /// Walks from `head`. Failure carries the reason; the caller still returns `head` to the driver.
    static func walk(head: UInt16, layout: VirtqueueLayout, dma: DMASpace) -> Result<DescriptorChain, BadChain> {
        var chain = DescriptorChain(head: head)
        do throws(ChainError) {
            try chain.collect(table: layout.descTable, count: UInt32(layout.size), start: head, dma: dma, indirect: false)
            return .success(chain)
        } catch {
            return .failure(BadChain(head: head, error: error))
        }
    }

    private mutating func collect(table: UInt64, count: UInt32, start: UInt16, dma: DMASpace,
                                  indirect: Bool) throws(ChainError) {
        var index = start
        var visited: UInt32 = 0
        while true {
            // 2.7.5.3.1 / 2.7.4: a chain never has more descriptors than the table; more means a loop.
            guard visited < count else { throw .tooLong(limit: Int(count)) }
            visited += 1
            let at = table + UInt64(index) * 16
            let addr: UInt64, len: UInt32, flags: UInt16, next: UInt16
            do {
                addr = try dma.load(UInt64.self, at: at)
                len = try dma.load(UInt32.self, at: at + 8)
                flags = try dma.load(UInt16.self, at: at + 12)
                next = try dma.load(UInt16.self, at: at + 14)
            } catch .translationMiss(let iova, _) { throw .translationMiss(iova) } catch { throw .descriptorUnreadable(at) }

            if flags & Self.flagIndirect != 0 {
                // 2.7.5.3.1: the driver MUST NOT set INDIRECT inside an indirect table, nor with NEXT.
                guard !indirect else { throw .nestedIndirect }
                guard flags & Self.flagNext == 0 else { throw .indirectWithNext }
                guard len > 0, len % 16 == 0, len / 16 <= Self.maxIndirectEntries else { throw .badIndirectLength(len) }
                do { _ = try dma.resolve(addr, length: UInt64(len), access: .read) }
                catch .translationMiss(let iova, _) { throw .translationMiss(iova) } catch {
                    throw .bufferOutsideMemory(address: addr, length: len, writable: false)
                }
                try collect(table: addr, count: len / 16, start: 0, dma: dma, indirect: true)
                return
            }
            let writable = flags & Self.flagWrite != 0
            do { _ = try dma.resolve(addr, length: UInt64(len), access: writable ? .write : .read) }
            catch .translationMiss(let iova, _) { throw .translationMiss(iova) } catch {
                throw .bufferOutsideMemory(address: addr, length: len, writable: writable)
            }
            if writable {
                self.writable.append(ChainBuffer(address: addr, length: len))
            } else {
                // 2.7.4.2: device-readable descriptors come before device-writable ones.
                guard self.writable.isEmpty else { throw .readableAfterWritable }
                readable.append(ChainBuffer(address: addr, length: len))
            }
            guard flags & Self.flagNext != 0 else { return }
            guard UInt32(next) < count else { throw .nextOutOfRange(next) }
            index = next
        }
    }

    /// Gathers up to `limit` bytes of the readable part. `truncated` tells whether more was there.
    public func readRequest(dma: DMASpace, limit: Int) throws(GuestMemoryError) -> (bytes: [UInt8], truncated: Bool) {
        let total = readableLength
        let take = Int(min(total, UInt64(limit)))
        var out = [UInt8](repeating: 0, count: take)
        var done = 0
        try typedGuestMemoryError { try out.withUnsafeMutableBytes { buf in
            for b in readable where done < take {
                let n = min(Int(b.length), take - done)
                try dma.read(at: b.address, into: UnsafeMutableRawBufferPointer(rebasing: buf[done..<done + n]))
                done += n
            }
        } }
        return (out, total > UInt64(limit))
    }

    /// Scatters `bytes` over the writable part; returns how many were written (less when it is too small).
    public func writeResponse(_ bytes: [UInt8], dma: DMASpace) throws(GuestMemoryError) -> Int {
        var done = 0
        try typedGuestMemoryError { try bytes.withUnsafeBytes { src in
            for b in writable where done < bytes.count {
                let n = min(Int(b.length), bytes.count - done)
                try dma.write(at: b.address, from: UnsafeRawBufferPointer(rebasing: src[done..<done + n]))
                done += n
            }
        } }
        return done
    }
}
