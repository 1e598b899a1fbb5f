// GPUDevice: the queue-free virtio-gpu 2D state machine: decodes a request, validates it, mutates, answers.
import Display
import GuestMemory
import Logging
import VireoLogging
import VireoSystem
import Wire

public final class GPUDevice {
    /// GPU2D-1: [VIRTIO] 5.7.1 device ID.
    public static let deviceID: UInt32 = 16
    /// GPU2D-3: VIRTIO_GPU_F_VIRGL is never offered; blob and context-init neither (no 3D/blob commands).
    public static let offeredFeatures: UInt64 = GPUFeatures.edid | GPUFeatures.resourceUUID
    /// The largest request read: RESOURCE_ATTACH_BACKING with the default maxBackingEntries entries.
    public static let maxRequestSize: Int =
        ResourceAttachBacking.size + Int(GPUDeviceLimits().maxBackingEntries) * MemEntry.size

    let displays: DisplaySet
    let limits: GPUDeviceLimits
    let logger: Logger
    var warnings: GuestWarningLog

    var negotiatedFeatures: UInt64 = 0
    var eventsRead: UInt32 = 0
    var resources: [UInt32: GPUResource] = [:]
    var scanouts: [ScanoutBinding?]
    /// Bytes of resource pixels charged to `limits.hostMemoryQuota` (invariant: <= the quota).
    var hostBytes: UInt64 = 0
    public var usedHostMemory: UInt64 { hostBytes }
    var totalBackingEntries = 0
    /// Events of the command being handled, in order.
    var events: [GPUDisplayEvent] = []
    /// Flushes shown to the side channel but not yet copied into the DisplaySet (see `handle(deferringPresents:)`).
    var pendingPresents: [PendingPresent] = []
    /// Per scanout: the storage of a picture the DisplaySet gave back when a whole-frame flush handed it the
    /// resource's pixels instead of a copy (`commitPresents`); the next TRANSFER_TO_HOST_2D that rewrites the whole
    /// resource writes into it instead of copying the shared pixels first. At most one per scanout, so the memory
    /// stays what a private DisplaySet copy would take; dropped when the scanout changes.
    var spareFrames: [Int: [UInt8]] = [:]
    /// Reused for UPDATE pixels of resources whose format is not B,G,R,X already (grows, never shrinks).
    var conversionBuffer: [UInt8] = []

    /// EDID blobs per scanout given by the frontend; GET_EDID generates one for scanouts not listed.
    public var frontendEDID: [Int: [UInt8]] = [:]

    public var resourceCount: Int { resources.count }

    public init(displays: DisplaySet, limits: GPUDeviceLimits = .init(), logger: Logger) {
        self.displays = displays
        self.limits = limits
        self.logger = logger
        warnings = GuestWarningLog(logger: logger, perSecond: limits.warningsPerSecond)
        scanouts = Array(repeating: nil, count: displays.count)
    }

    /// Keeps only bits we offered: GET_EDID needs F_EDID, RESOURCE_ASSIGN_UUID needs F_RESOURCE_UUID.
    public func setNegotiatedFeatures(_ features: UInt64) { negotiatedFeatures = features & Self.offeredFeatures }

    /// Device reset: drops all resources, disables scanouts, clears the cursor, events and features.
    public func reset() {
        for (i, b) in scanouts.enumerated() where b != nil { displays.disable(i) }
        scanouts = Array(repeating: nil, count: displays.count)
        pendingPresents = []
        spareFrames = [:]
        resources = [:]
        hostBytes = 0
        totalBackingEntries = 0
        eventsRead = 0
        negotiatedFeatures = 0
        displays.setCursor { c in
            c.visible = false; c.image = []; c.x = 0; c.y = 0; c.hotX = 0; c.hotY = 0; c.scanout = 0
            c.imageSerial &+= 1
        }
    }

    /// Runs one request. Never traps on guest input: every refusal is the protocol's error response.
    ///
    /// `deferringPresents`: flushed pixels reach the DisplaySet only when the caller calls `commitPresents()`
    /// (the next `handle` does it first at the latest), so the side channel can send the UPDATE from the
    /// resource before Vireo's own copy is made. Without it the DisplaySet is up to date on return.
    public func handle(request: [UInt8], queue: GPUQueue, dma: DMASpace,
                       deferringPresents: Bool = false) -> GPUCommandResult {
        if !pendingPresents.isEmpty { commitPresents() }
        let result = run(request: request, queue: queue, dma: dma)
        if !deferringPresents { commitPresents() }
        return result
    }

    /// Whether flushed pixels still wait for `commitPresents()`.
    public var hasPendingPresents: Bool { !pendingPresents.isEmpty }

    private func run(request: [UInt8], queue: GPUQueue, dma: DMASpace) -> GPUCommandResult {
        events = []
        var reader = WireReader(request)
        let hdr: CtrlHdr
        do { hdr = try CtrlHdr(from: &reader) } catch {
            // [VIRTIO] 5.7.6.7 gives no answer for a request shorter than its header; like QEMU's vhost-user-gpu
            // we answer ERR_INVALID_PARAMETER (there is no fence to echo).
            warnings.warn("request of \(request.count) bytes is shorter than virtio_gpu_ctrl_hdr")
            return finish(CtrlHdr(type: 0).response(.errInvalidParameter), payload: [])
        }
        guard let command = GPUCommandType(rawValue: hdr.type) else {
            warnings.warn("unknown command type 0x\(String(hdr.type, radix: 16))")
            return finish(hdr.response(.errUnspec), payload: [])
        }
        do throws(GPUCommandError) {
            // GPU2D-2: cursor commands only on cursorq, the rest only on controlq.
            guard command.queue == queue else { throw .unspec("\(command) on the \(queue) queue") }
            // GPU2D-3: no 3D, blob or capset commands in 2D mode.
            guard !command.isUnsupportedIn2D else { throw .unspec("not supported in 2D mode") }
            let (type, payload) = try execute(command, &reader, dma: dma)
            return finish(hdr.response(type), payload: payload)
        } catch {
            warnings.warn(error.reason, metadata: ["command": "\(command)"])
            events = []    // a refused command has no effect, so nothing to tell
            pendingPresents = []
            return finish(hdr.response(error.response), payload: [])
        }
    }

    private func finish(_ hdr: CtrlHdr, payload: [UInt8]) -> GPUCommandResult {
        var w = WireWriter(capacity: CtrlHdr.size + payload.count)
        hdr.encode(into: &w)
        w.write(bytes: payload)
        defer { events = [] }
        return GPUCommandResult(response: w.bytes, events: events)
    }

    /// Runs the command on its decoded payload (a short payload is ERR_INVALID_PARAMETER and changes nothing).
    private func execute(_ command: GPUCommandType, _ r: inout WireReader,
                         dma: DMASpace) throws(GPUCommandError) -> (GPUResponseType, [UInt8]) {
        switch command {
        case .getDisplayInfo: return (.okDisplayInfo, getDisplayInfo())
        case .getEDID: return (.okEDID, try getEDID(decode(&r, GetEDID.init(from:))))
        case .resourceCreate2D: try resourceCreate2D(decode(&r, ResourceCreate2D.init(from:)))
        case .resourceUnref: try resourceUnref(decode(&r, ResourceOnly.init(from:)))
        case .setScanout: try setScanout(decode(&r, SetScanout.init(from:)))
        case .resourceFlush: try resourceFlush(decode(&r, ResourceFlush.init(from:)))
        case .transferToHost2D: try transferToHost2D(decode(&r, TransferToHost2D.init(from:)), dma: dma)
        case .resourceAttachBacking: try resourceAttachBacking(&r, dma: dma)
        case .resourceDetachBacking: try resourceDetachBacking(decode(&r, ResourceOnly.init(from:)))
        case .resourceAssignUUID: return (.okResourceUUID, try resourceAssignUUID(decode(&r, ResourceOnly.init(from:))))
        case .updateCursor: try updateCursor(decode(&r, UpdateCursor.init(from:)))
        case .moveCursor: try moveCursor(decode(&r, UpdateCursor.init(from:)))
        default: throw .unspec("not supported in 2D mode")
        }
        return (.okNoData, [])
    }

    /// One decode path for short input: [VIRTIO] 5.7.6 gives a struct per command; fewer bytes than it is
    /// ERR_INVALID_PARAMETER (as QEMU's vhost-user-gpu answers a short read).
    func decode<T>(_ r: inout WireReader,
                   _ decoder: (inout WireReader) throws(WireError) -> T) throws(GPUCommandError) -> T {
        do throws(WireError) { return try decoder(&r) } catch { throw .invalidParameter("request too short: \(error)") }
    }

    /// The resource named by a command. [VIRTIO] 5.7.6.8: resource id 0 is never a resource.
    func resource(_ id: UInt32) throws(GPUCommandError) -> GPUResource {
        guard id != 0 else { throw .invalidResourceID(id, "id 0 is reserved") }
        guard let r = resources[id] else { throw .invalidResourceID(id) }
        return r
    }
}
