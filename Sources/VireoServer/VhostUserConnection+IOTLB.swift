// VhostUserConnection+IOTLB: the device behind the frontend's IOMMU (VIRTIO_F_ACCESS_PLATFORM). Device addresses (rings,
// backing entries) are IOVAs translated through the IOTLB the frontend fills: the backend asks for each miss
// over the backend channel and reports each refused access there; translations arrive as VHOST_USER_IOTLB_MSG.
import Foundation
import GuestMemory
import VhostUser
import VireoSystem
import Wire

extension VhostUserConnection {
    var iommuPlatform: Bool { features & FeatureBit.accessPlatform != 0 }

    /// How long a command waits for the frontend to answer an IOTLB miss.
    static let missTimeout: TimeInterval = 2

    func installIOTLBHandlers() {
        iotlb.missHandler = { [weak self] iova, access in self?.resolveMiss(iova, access) ?? false }
        iotlb.accessFailureHandler = { [weak self] iova, access in
            self?.counters.count { $0.iotlbAccessFailures &+= 1 }
            self?.sendBackendIOTLB(IOTLBMessage(iova: iova, size: 1, userAddr: 0, perm: Self.perm(access),
                                                type: .accessFail))
        }
    }

    static func perm(_ access: DMAAccess) -> UInt8 { access == .read ? 1 : 2 }

    func sendBackendIOTLB(_ message: IOTLBMessage) {
        sendBackendRequest(.iotlbMsg, payload: message.encoded)
    }

    /// Sends a backend-initiated request (no reply asked for). False when there is no backend channel (any more).
    @discardableResult
    func sendBackendRequest(_ request: VhostUserBackendRequest, payload: [UInt8] = []) -> Bool {
        guard let channel = backendChannel else { return false }
        let header = VhostUserHeader(request: request.rawValue, flags: VhostUserHeader.version,
                                     size: UInt32(payload.count))
        do { try UnixSocket.send(channel, header.encoded + payload) } catch {
            logger.warning("backend channel failed: \(error); nothing more can be sent to the frontend on it")
            backendChannel = nil
            return false
        }
        return true
    }

    /// Sends a MISS; while a kick is being processed, waits (bounded) for the frontend's IOTLB updates on the main
    /// socket. Any other message ends the wait; it is handled after the current kick.
    func resolveMiss(_ iova: UInt64, _ access: DMAAccess) -> Bool {
        guard backendChannel != nil else { return false }
        counters.count { $0.iotlbMisses &+= 1 }
        sendBackendIOTLB(IOTLBMessage(iova: iova, size: 1, userAddr: 0, perm: Self.perm(access), type: .miss))
        // While a vhost-user message is being handled the frontend waits for our reply and cannot answer.
        guard processingKick else { return false }
        let deadline = Date() + Self.missTimeout
        while Date() < deadline {
            let left = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
            guard (try? UnixSocket.waitReadable(channel.socket, timeoutMS: left)) == true else { break }
            guard let message = try? channel.receive() else { return false }
            guard message.request == .iotlbMsg else {
                deferredMessages.append(message)
                return false
            }
            dispatch(message)
            if iotlb.covers(iova) { return true }   // a permission refusal is then the caller's answer
        }
        counters.count { $0.iotlbMissesUnanswered &+= 1 }
        logger.warning("IOTLB miss at 0x\(String(iova, radix: 16)) (\(access)) not answered within \(Self.missTimeout) s")
        return false
    }

    /// Handles IOTLB messages already waiting on the main socket without blocking (used while the side channel
    /// waits for the frontend's display, which may itself wait for our ack of an IOTLB update). Others are deferred.
    func serviceWaitingIOTLBMessages() {
        guard iommuPlatform else { return }
        while (try? UnixSocket.waitReadable(channel.socket, timeoutMS: 0)) == true,
              let message = try? channel.receive() {
            if message.request == .iotlbMsg { dispatch(message) } else { deferredMessages.append(message) }
        }
    }

    /// VHOST_USER_IOTLB_MSG from the frontend.
    func handleIOTLB(_ payload: [UInt8]) throws {
        guard payload.count == IOTLBMessage.size else {
            throw ProtocolViolation("IOTLB_MSG: payload is \(payload.count) bytes, expected \(IOTLBMessage.size)")
        }
        var r = WireReader(payload)
        let m = try IOTLBMessage(from: &r)
        guard iommuPlatform else { throw ProtocolViolation("IOTLB_MSG without VIRTIO_F_ACCESS_PLATFORM negotiated") }
        // The backend's own virtio-iommu is the one the guest programs: a second, frontend-made translation would
        // bypass its permissions, so the IOTLB is refused while it is configured.
        guard deviceTranslator == nil else {
            throw ProtocolViolation("IOTLB_MSG: this device is behind the backend's own virtio-iommu")
        }
        switch IOTLBMessage.MessageType(rawValue: m.type) {
        case .update:
            guard (1...3).contains(m.perm) else { throw ProtocolViolation("IOTLB update with permission \(m.perm)") }
            guard m.size > 0, let gpa = memory.guestAddress(ofUserAddress: m.userAddr),
                  memory.contains(gpa, length: m.size),
                  memory.guestAddress(ofUserAddress: m.userAddr &+ (m.size - 1)) == gpa &+ (m.size - 1) else {
                throw ProtocolViolation("IOTLB update 0x\(String(m.iova, radix: 16))+\(m.size): user address " +
                                        "0x\(String(m.userAddr, radix: 16)) is not guest memory")
            }
            do {
                try iotlb.update(IOTLBEntry(iova: m.iova, size: m.size, guestAddress: gpa,
                                            permission: IOTLBPermission(rawValue: m.perm)))
            } catch { throw ProtocolViolation("IOTLB update: \(error)") }
            // Queues that stopped on a miss may go on now.
            for i in queues.indices where queues[i].started && !processingKick { pendingKicks.insert(i) }
        case .invalidate:
            iotlb.invalidate(iova: m.iova, size: m.size)
        default:
            throw ProtocolViolation("IOTLB message type \(m.type) is not one a frontend sends")
        }
    }
}
