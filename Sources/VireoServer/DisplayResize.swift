// DisplayResize: a viewer asks for another size of a scanout (VNC SetDesktopSize, the HTTP API). Vireo can only
// pass it on where Vireo decides the displays (no display side channel) and the frontend takes a backend's config
// change (VHOST_USER_BACKEND_CONFIG_CHANGE_MSG): the mode changes, VIRTIO_GPU_EVENT_DISPLAY is raised, the frontend
// signals the guest's config interrupt, and the guest's driver reads the new mode with GET_DISPLAY_INFO.
// QEMU's vhost-user-gpu owns the display configuration (its console's size) and refuses backend config changes.
import Display
import VhostUser

public struct DisplayResizeRequest: Sendable, Equatable {
    public var scanout: Int
    public var width: UInt32
    public var height: UInt32
    public init(scanout: Int, width: UInt32, height: UInt32) {
        self.scanout = scanout; self.width = width; self.height = height
    }
    /// The sizes a scanout may be asked for (as the VNC protocol's 16-bit sizes, bounded by a 2D resource's).
    public static let sizes: ClosedRange<UInt32> = 16...16384
}

public enum DisplayResizeError: Error, Equatable, CustomStringConvertible {
    case noGuest, unknownScanout(Int), badSize(UInt32, UInt32), frontendOwnsDisplays, noConfigChannel, timedOut
    public var description: String {
        switch self {
        case .noGuest: "no GPU frontend is connected"
        case .unknownScanout(let i): "scanout \(i) does not exist"
        case .badSize(let w, let h): "\(w)x\(h) is not a display size (each side 16...16384)"
        case .frontendOwnsDisplays:
            "the frontend's display decides this size (vhost-user-gpu display channel): resize it there"
        case .noConfigChannel:
            "the frontend did not give a backend channel with VHOST_USER_PROTOCOL_F_CONFIG, so the guest cannot be told"
        case .timedOut: "the connection did not answer in time"
        }
    }
}

extension GPUConnection {
    /// On the connection's thread: changes the scanout's mode and tells the guest, or says why not.
    func resizeDisplay(_ request: DisplayResizeRequest) -> Result<Void, DisplayResizeError> {
        guard DisplayResizeRequest.sizes.contains(request.width), DisplayResizeRequest.sizes.contains(request.height) else {
            return .failure(.badSize(request.width, request.height))
        }
        var modes = displays.modes
        guard modes.indices.contains(request.scanout) else { return .failure(.unknownScanout(request.scanout)) }
        guard sideChannel == nil else { return .failure(.frontendOwnsDisplays) }
        guard backendChannel != nil, negotiated(.config), negotiated(.backendReq) else { return .failure(.noConfigChannel) }
        let old = modes[request.scanout]
        modes[request.scanout] = DisplayMode(enabled: true, width: request.width, height: request.height,
                                             x: old.x, y: old.y)
        guard modes != displays.modes else { return .success(()) }
        displays.setModes(modes)
        device.displayConfigurationChanged()
        guard sendBackendRequest(.configChangeMsg) else { return .failure(.noConfigChannel) }
        logger.info("scanout \(request.scanout): mode \(old.width)x\(old.height) -> \(request.width)x\(request.height) (asked by a viewer); guest told")
        return .success(())
    }
}
