// QueueState: what the frontend configured for one vring, and the live Virtqueue once the ring is started.
import GuestMemory
import VhostUser
import VireoSystem
import Virtio

struct QueueState {
    var num: UInt32 = 0
    var addr: VringAddr?
    var base: UInt16 = 0
    var kick: OwnedFD?
    var call: OwnedFD?
    var err: OwnedFD?
    /// Rings start disabled when VHOST_USER_F_PROTOCOL_FEATURES is negotiated (vhost-user "Ring states").
    var enabled = false
    var started = false
    var queue: Virtqueue?
    /// Set when the ring itself is corrupt: the queue stops until the frontend resets or reconfigures it.
    var broken = false

    mutating func stop() -> UInt16 {
        let last = queue?.lastAvailIdx ?? base
        started = false
        queue = nil
        kick = nil
        base = last
        return last
    }
}
