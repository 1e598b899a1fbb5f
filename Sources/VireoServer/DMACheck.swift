// DMACheck: asks a client's GPU connection whether its device may access guest addresses now, through exactly the
// path its DMA takes (Vireo's virtio-iommu endpoint, or the frontend's IOTLB with misses asked of the frontend).
// For security reviews and tests on a live system: nothing is read or written, and a refusal is reported as any
// refused DMA is (a fault on the virtio-iommu eventq, or ACCESS_FAIL to the frontend) and counted.
import Display
import Foundation
import GuestMemory
import Synchronization
import VireoSystem

public struct DMACheckRequest: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        /// `length` bytes at a device address (an IOVA behind an IOMMU).
        case address(UInt64, length: UInt64)
        /// Every backing entry of a resource.
        case resource(UInt32)
        /// Every backing entry of the resource a scanout shows.
        case scanout(Int)
    }
    public var target: Target
    public var access: DMAAccess
    public init(target: Target, access: DMAAccess) { self.target = target; self.access = access }
}

public struct DMACheckResult: Sendable, Equatable {
    /// Every byte checked is accessible for `access`.
    public var allowed: Bool
    /// The ranges checked (device addresses).
    public var checked: [GuestRange]
    /// Why not: the first refused address and the reason; nil when allowed.
    public var refusal: String?
    public var refusedAddress: UInt64?
}

public enum DMACheckError: Error, Equatable, CustomStringConvertible {
    case noGuest, noResource(String), tooLong, timedOut
    public var description: String {
        switch self {
        case .noGuest: "no GPU frontend is connected"
        case .noResource(let what): what
        case .tooLong: "length must be 1...2^32"
        case .timedOut: "the connection did not answer in time"
        }
    }
}

extension GuestMemoryError {
    /// The address the error names.
    var address: UInt64? {
        switch self {
        case .outOfRange(let a, _): a
        case .translationFault(let a, _, _): a
        case .translationMiss(let a, _): a
        }
    }
}
