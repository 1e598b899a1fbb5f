// IOMMUGuestDriver: plays the frontend and the guest's virtio-iommu driver over a real IOMMU connection: feature
// negotiation, its own memory table, requestq 0 and eventq 1 in guest RAM, ATTACH/MAP/UNMAP, eventq buffers.
import Foundation
import VhostUser
import VireoSystem
import Wire

public final class IOMMUGuestDriver: @unchecked Sendable {
    // Sendable: one test drives it.
    public let frontend: VhostUserFrontend
    public let ram: GuestRAM
    public let requestq: GuestRing
    public let eventq: GuestRing
    private var eventBuffers: [UInt32: UInt64] = [:]

    /// `setup: false` leaves the connection bare (for hostile tests).
    public init(socket: OwnedFD, ram: GuestRAM, setup: Bool = true) throws {
        frontend = VhostUserFrontend(socket: socket)
        self.ram = ram
        requestq = try GuestRing(ram: ram, size: 16)
        eventq = try GuestRing(ram: ram, size: 16)
        if setup {
            try frontend.negotiate()
            try frontend.setMemTable(ram)
            try frontend.setupRing(0, requestq, ram: ram)
            try frontend.setupRing(1, eventq, ram: ram)
        }
    }

    /// Sends one request (head + body), returns what the device wrote in the writable part (nil: no answer).
    public func request(_ type: UInt8, _ body: [UInt8], writable: Int = 4, timeout: TimeInterval = 5) -> [UInt8]? {
        let bytes = [type, 0, 0, 0] + body
        let req = ram.allocate(UInt64(bytes.count), align: 8)
        ram.write(bytes, at: req)
        let resp = ram.allocate(UInt64(writable), align: 8)
        let head = requestq.addChain([.init(address: req, length: UInt32(bytes.count), writable: false),
                                      .init(address: resp, length: UInt32(writable), writable: true)])
        requestq.publish(head)
        requestq.notify()
        guard let used = requestq.waitUsed(timeout: timeout) else { return nil }
        return ram.read(Int(used.length), at: resp)
    }

    /// The status byte of a 4-byte tail answer (nil: no answer).
    func status(_ reply: [UInt8]?) -> UInt8? { reply?.count == 4 ? reply?[0] : nil }

    public func attach(domain: UInt32, endpoint: UInt32, flags: UInt32 = 0) -> UInt8? {
        var w = WireWriter(); w.write(domain); w.write(endpoint); w.write(flags); w.write(UInt32(0))
        return status(request(1, w.bytes))
    }

    /// MAP [iova, iova+size) to `phys`; flags: 1 READ, 2 WRITE.
    public func map(domain: UInt32, iova: UInt64, phys: UInt64, size: UInt64, flags: UInt32) -> UInt8? {
        var w = WireWriter(); w.write(domain); w.write(iova); w.write(iova + size - 1); w.write(phys); w.write(flags)
        return status(request(3, w.bytes))
    }

    public func unmap(domain: UInt32, iova: UInt64, size: UInt64) -> UInt8? {
        var w = WireWriter(); w.write(domain); w.write(iova); w.write(iova + size - 1); w.write(UInt32(0))
        return status(request(4, w.bytes))
    }

    /// Posts `count` eventq buffers of `size` bytes and kicks.
    public func postEventBuffers(_ count: Int, size: UInt32 = 24) {
        for _ in 0..<count {
            let at = ram.allocate(UInt64(size), align: 8)
            ram.write([UInt8](repeating: 0xee, count: Int(size)), at: at)
            let head = eventq.addChain([.init(address: at, length: size, writable: true)])
            eventBuffers[UInt32(head)] = at
            eventq.publish(head)
        }
        eventq.notify()
    }

    /// The next used eventq buffer's bytes (a fault report), nil on timeout.
    public func nextEvent(timeout: TimeInterval = 5) -> [UInt8]? {
        guard let used = eventq.waitUsed(timeout: timeout), let at = eventBuffers[used.id] else { return nil }
        return ram.read(Int(used.length), at: at)
    }
}
