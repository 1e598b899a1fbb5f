// GPUConnection+SideChannel: talking to the frontend's display (vhost-user-gpu). The frontend decides the display
// modes and EDID; Vireo sends it scanouts, pixel updates and the cursor. A failing channel is dropped, and the
// device goes on serving the guest (Vireo's own PNG/VNC export keeps working).
import Display
import VhostUser
import VireoSystem
import VirtioGPU
import Wire

extension GPUConnection {
    /// SO_SNDBUF asked for the display channel (see `attachSideChannel`).
    static let sideChannelSendBuffer = 512 << 10

    /// GPU_SET_SOCKET arrives while the frontend waits for our ack, so its display cannot answer yet: the
    /// handshake happens on first use.
    func attachSideChannel(_ fd: OwnedFD) {
        var channel = GPUSideChannel(socket: fd, spinMicroseconds: config.pollMicroseconds)
        // Non-blocking, so a frontend that stops reading neither hangs the device nor starves IOTLB acks.
        do { try fd.setNonBlocking(true) } catch { logger.warning("display channel: \(error)") }
        channel.whileBlocked = { [weak self] in self?.serviceWaitingIOTLBMessages() }
        // A 1080p UPDATE is 8 MB through this socket while the display reads it: with the default buffer
        // (wmem_default, ~208 KiB) the send sleeps and is woken ~40 times a frame. Measured (vireo-bench, A/B in
        // one run): 512 KiB requested (1 MiB in effect) gave +2..13% frames/s; 8 MiB was 17-29% slower (the
        // pixels leave the caches before the display reads them). Capped by net.core.wmem_max; failure is harmless.
        let sendBuffer = UnixSocket.setSendBuffer(fd, bytes: Self.sideChannelSendBuffer)
        logger.debug("display channel send buffer: \(sendBuffer.map { "\($0) bytes" } ?? "unchanged")")
        sideChannel = channel
        sideChannelNegotiated = false
        logger.info("display channel attached")
    }

    /// The side channel after its protocol-feature handshake, or nil.
    func readySideChannel() -> GPUSideChannel? {
        guard let channel = sideChannel else { return nil }
        if sideChannelNegotiated { return channel }
        sideChannelNegotiated = true
        do {
            var r = WireReader(try channel.call(.getProtocolFeatures, whileWaiting: serviceWaitingIOTLBMessages))
            let offered: UInt64 = try r.read()
            sideChannelFeatures = offered & GPUSideChannel.protocolFeatureEDID
            var w = WireWriter()
            w.write(sideChannelFeatures)
            try channel.send(.setProtocolFeatures, payload: w.bytes)
            logger.info("display channel ready (frontend EDID: \(sideChannelFeatures != 0))")
            return channel
        } catch {
            dropSideChannel(error)
            return nil
        }
    }

    func dropSideChannel(_ error: any Error) {
        logger.warning("display channel dropped: \(error)")
        sideChannel = nil
    }

    /// GET_DISPLAY_INFO and GET_EDID answer what the frontend's display says.
    func askFrontendBeforeCommand(_ request: [UInt8]) {
        guard request.count >= 24, let channel = readySideChannel() else { return }
        // virtio_gpu_ctrl_hdr.type, little-endian (count >= 24 checked above).
        let type = UInt32(request[0]) | UInt32(request[1]) << 8 | UInt32(request[2]) << 16 | UInt32(request[3]) << 24
        guard type == Self.getDisplayInfoType || type == Self.getEDIDType else { return }
        do {
            if type == Self.getDisplayInfoType {
                // Reply: virtio_gpu_resp_display_info: 24-byte header, then 16 x (rect 16 bytes, enabled, flags).
                var info = WireReader(try channel.call(.getDisplayInfo, whileWaiting: serviceWaitingIOTLBMessages))
                try info.skip(24)
                var modes = displays.modes
                for i in 0..<DisplaySet.maxScanouts {
                    let x: UInt32 = try info.read(), y: UInt32 = try info.read()
                    let w: UInt32 = try info.read(), h: UInt32 = try info.read()
                    let enabled: UInt32 = try info.read()
                    _ = try info.read(UInt32.self)
                    if i < modes.count { modes[i] = DisplayMode(enabled: enabled != 0, width: w, height: h, x: x, y: y) }
                }
                // A changed configuration is announced to the driver (VIRTIO_GPU_EVENT_DISPLAY in events_read).
                if modes != displays.modes {
                    if sideChannelModesKnown { device.displayConfigurationChanged() }
                    displays.setModes(modes)
                }
                sideChannelModesKnown = true
            } else if type == Self.getEDIDType, sideChannelFeatures & GPUSideChannel.protocolFeatureEDID != 0 {
                guard request.count >= 28 else { return }
                var rr = WireReader(Array(request[24..<28]))
                let scanout: UInt32 = try rr.read()
                guard scanout < UInt32(displays.count) else { return }
                var w = WireWriter(); w.write(scanout)
                // Reply: virtio_gpu_resp_edid: header 24, size u32, padding u32, edid[1024].
                var e = WireReader(try channel.call(.getEDID, payload: w.bytes, whileWaiting: serviceWaitingIOTLBMessages))
                try e.skip(24)
                let size: UInt32 = try e.read()
                _ = try e.read(UInt32.self)
                guard size <= 1024 else { return }
                device.frontendEDID[Int(scanout)] = try e.readBytes(Int(size))
            }
        } catch {
            dropSideChannel(error)
        }
    }

    /// Sends the device's display events; UPDATE pixels come from the scanout's resource (as x8r8g8b8).
    /// SET_SCANOUT goes as SCANOUT alone, as QEMU's own backend sends it: the display takes the new surface with
    /// the next UPDATE (the guest's RESOURCE_FLUSH), so a page flip (SET_SCANOUT, then a whole-frame flush) carries
    /// the frame's pixels once, not twice. Vireo's own copy (VNC, PNG) still shows the resource at SET_SCANOUT.
    func forward(_ events: [GPUDisplayEvent]) {
        guard !events.isEmpty, let channel = readySideChannel() else { return }
        do {
            var previous: GPUDisplayEvent?
            for event in events {
                defer { previous = event }
                switch event {
                case .scanout(let index, let width, let height):
                    try channel.scanout(UInt32(index), width: width, height: height)
                case .update(let index, let rect):
                    guard !rect.isEmpty else { continue }
                    // The update SET_SCANOUT announces right after its SCANOUT goes to Vireo's own copy only.
                    if case .scanout(index, let width, _)? = previous, width > 0 { continue }
                    // Straight from the resource (the DisplaySet copy follows, off the latency path).
                    let sent: Void? = try device.withScanoutPixels(index, rect) { rows in
                        try channel.update(UInt32(index), x: rect.x, y: rect.y, width: rect.width,
                                           height: rect.height, rows: rows)
                    }
                    if sent == nil { logger.debug("update of \(rect) on scanout \(index) skipped: scanout changed") }
                case .cursorUpdate(let cursor):
                    if cursor.visible {
                        try channel.cursorUpdate(cursor.scanout, x: cursor.x, y: cursor.y, hotX: cursor.hotX,
                                                 hotY: cursor.hotY, argb: cursor.image)
                    } else {
                        try channel.cursorPosition(cursor.scanout, x: cursor.x, y: cursor.y, visible: false)
                    }
                case .cursorMove(let scanout, let x, let y):
                    try channel.cursorPosition(scanout, x: x, y: y, visible: true)
                }
            }
        } catch {
            dropSideChannel(error)
        }
    }
}
