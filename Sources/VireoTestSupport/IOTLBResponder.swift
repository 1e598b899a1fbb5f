// IOTLBResponder: plays QEMU's IOMMU side of the vhost-user IOTLB protocol: reads the backend's MISS and
// ACCESS_FAIL messages on the backend channel and answers misses with IOTLB updates decided by a policy.
// IOVAs are guest-physical addresses (identity), so tests can map exactly the pages they choose.
import Foundation
import Synchronization
import VhostUser
import VireoSystem
import Wire

public final class IOTLBResponder: Sendable {
    /// What to map for a miss at `iova`: (start, size, perm 1 RO / 2 WO / 3 RW), or nil to leave it unanswered.
    public typealias Policy = @Sendable (_ iova: UInt64) -> (iova: UInt64, size: UInt64, perm: UInt8)?

    let socket: OwnedFD
    public let backendEnd: OwnedFD
    let policy: Policy
    private let log = Mutex<(misses: [UInt64], failures: [(UInt64, UInt8)])>(([], []))
    private let stopped = Mutex(false)

    /// Default policy: the 2 MiB-aligned block around the miss, read-write.
    public init(policy: @escaping Policy = { iova in (iova & ~0x1f_ffff, 0x20_0000, 3) }) throws {
        (socket, backendEnd) = try UnixSocket.pair()
        self.policy = policy
    }

    public var misses: [UInt64] { log.withLock { $0.misses } }
    public var accessFailures: [(iova: UInt64, perm: UInt8)] { log.withLock { $0.failures.map { ($0.0, $0.1) } } }
    public func stop() { stopped.withLock { $0 = true } }

    /// Starts answering on `frontend`'s main channel (the backend applies updates from there).
    public func start(frontend: VhostUserFrontend, ram: GuestRAM) {
        Thread { [self] in
            while !stopped.withLock({ $0 }) {
                guard (try? UnixSocket.waitReadable(socket, timeoutMS: 100)) == true else { continue }
                guard let head = try? UnixSocket.receiveExactly(socket, count: 12) else { return }
                var r = WireReader(head)
                _ = try? r.read(UInt32.self); _ = try? r.read(UInt32.self)
                let size = Int((try? r.read(UInt32.self)) ?? 0)
                guard size == IOTLBMessage.size, let body = try? UnixSocket.receiveExactly(socket, count: size) else { return }
                var br = WireReader(body)
                guard let m = try? IOTLBMessage(from: &br) else { continue }
                switch IOTLBMessage.MessageType(rawValue: m.type) {
                case .miss:
                    log.withLock { $0.misses.append(m.iova) }
                    guard let (iova, len, perm) = policy(m.iova) else { continue }
                    let update = IOTLBMessage(iova: iova, size: len, userAddr: ram.userAddress(of: iova), perm: perm,
                                              type: .update)
                    try? frontend.channel.send(request: VhostUserRequest.iotlbMsg.rawValue, payload: update.encoded)
                case .accessFail:
                    log.withLock { $0.failures.append((m.iova, m.perm)) }
                default:
                    break
                }
            }
        }.start()
    }
}
