// GPUDevice+Transfer: TRANSFER_TO_HOST_2D, the DMA from a resource's guest backing into its host pixels.
import Display
import Foundation
import GuestMemory

extension GPUDevice {
    /// GPU2D-5.2: VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D. Row `i` of rect `r` is read from backing offset
    /// `offset + i*stride` (stride = resource width*4) and lands at (r.x, r.y+i) in the resource.
    func transferToHost2D(_ c: TransferToHost2D, dma: DMASpace) throws(GPUCommandError) {
        let res = try resource(c.resourceID)
        // [VIRTIO] 5.7.6.8: the rectangle is in resource coordinates; outside it is an invalid parameter.
        guard c.r.isInside(width: res.width, height: res.height) else {
            throw .invalidParameter("transfer rect \(c.r) outside resource \(res.id) (\(res.width)x\(res.height))")
        }
        // A transfer needs backing to read from (as QEMU: ERR_UNSPEC).
        guard let backing = res.backing else { throw .unspec("resource \(res.id) has no backing") }
        guard !c.r.isEmpty else { return }
        let stride = UInt64(res.stride), rowBytes = UInt64(c.r.width) * 4
        // Last byte read: offset + (height-1)*stride + rowBytes, all in 64 bits (each term < 2^46), checked
        // against the backing by subtraction.
        let span = UInt64(c.r.height - 1) * stride + rowBytes
        guard c.offset <= backing.totalLength, span <= backing.totalLength - c.offset else {
            throw .invalidParameter("transfer needs backing bytes \(c.offset)+\(span), resource \(res.id) " +
                                    "has \(backing.totalLength)")
        }
        let resolved: ResolvedBacking
        do throws(GuestMemoryError) {
            resolved = try backing.resolve(offset: c.offset, length: span, dma: dma)
        } catch {
            throw .invalidParameter("backing of resource \(res.id) is no longer readable: \(error)")
        }
        let dstStart = Int(c.r.y) * res.stride + Int(c.r.x) * 4
        // Every byte is rewritten: write into a spare frame rather than into pixels the DisplaySet may share
        // (which would be copied first, only to be overwritten). On failure the old pixels come back.
        var previous: [UInt8]?
        if c.r.x == 0, c.r.y == 0, c.r.width == res.width, c.r.height == res.height, var spare = takeSpareFrame(for: res) {
            swap(&res.pixels, &spare)
            previous = spare
        }
        var failure: GuestMemoryError?
        res.pixels.withUnsafeMutableBytes { px in
            do throws(GuestMemoryError) {
                if c.r.x == 0 && c.r.width == res.width {
                    // Full-width rows are contiguous on both sides: one copy (in two halves on two threads when
                    // large: the other core is idle while a frame is copied, the display waits for it).
                    let out = UnsafeMutableRawBufferPointer(rebasing: px[dstStart..<dstStart + Int(span)])
                    if out.count >= Self.parallelCopyMinimum {
                        try Self.copyInHalves(resolved, from: c.offset, into: out, memory: dma.memory)
                    } else {
                        try resolved.copy(from: c.offset, into: out, memory: dma.memory)
                    }
                } else {
                    for row in 0..<Int(c.r.height) {
                        let dst = dstStart + row * res.stride
                        let out = UnsafeMutableRawBufferPointer(rebasing: px[dst..<dst + Int(rowBytes)])
                        try resolved.copy(from: c.offset + UInt64(row) * stride, into: out, memory: dma.memory)
                    }
                }
            } catch { failure = error }
        }
        if let failure {
            if let previous { res.pixels = previous }
            // Not reachable: the pieces were checked against guest memory when resolved.
            throw .invalidParameter("backing of resource \(res.id) unreadable during the transfer: \(failure)")
        }
    }
}

extension GPUDevice {
    /// Transfers at least this large are copied by two threads (A/B in one vireo-bench run, both orders, 2 shared
    /// cores: 1080p frames/s +2..29%, p50 -5..22%).
    static let parallelCopyMinimum = 1 << 20

    /// `resolved.copy(from:into:memory:)` of `out`, its second half on a worker thread; both halves are done
    /// (or failed) when it returns.
    static func copyInHalves(_ resolved: ResolvedBacking, from offset: UInt64, into out: UnsafeMutableRawBufferPointer,
                             memory: GuestMemory) throws(GuestMemoryError) {
        let half = (out.count / 2) & ~63
        let parts = [(offset, UnsafeMutableRawBufferPointer(rebasing: out[0..<half])),
                     (offset + UInt64(half), UnsafeMutableRawBufferPointer(rebasing: out[half...]))]
        let box = CopyHalves(resolved: resolved, memory: memory, parts: parts)
        DispatchQueue.concurrentPerform(iterations: 2) { box.run($0) }
        if let failure = box.failure0 ?? box.failure1 { throw failure }
    }
}

/// The two halves of a parallel copy. Sendable: half i (and failure i) is touched by one thread only, and the caller
/// reads the failures after both are done (concurrentPerform returns after every iteration).
private final class CopyHalves: @unchecked Sendable {
    let resolved: ResolvedBacking
    let memory: GuestMemory
    let parts: [(UInt64, UnsafeMutableRawBufferPointer)]
    var failure0: GuestMemoryError?
    var failure1: GuestMemoryError?
    init(resolved: ResolvedBacking, memory: GuestMemory, parts: [(UInt64, UnsafeMutableRawBufferPointer)]) {
        self.resolved = resolved; self.memory = memory; self.parts = parts
    }
    func run(_ i: Int) {
        do throws(GuestMemoryError) { try resolved.copy(from: parts[i].0, into: parts[i].1, memory: memory) }
        catch { if i == 0 { failure0 = error } else { failure1 = error } }
    }
}
