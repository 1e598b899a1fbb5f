// GPUProtocol: the numbers of [VIRTIO] 5.7 (command and response types, flags, features, events, formats).

/// `enum virtio_gpu_ctrl_type`, request half ([VIRTIO] 5.7.6.7).
public enum GPUCommandType: UInt32, Sendable, CaseIterable {
    // 2D (control queue)
    case getDisplayInfo = 0x0100         // VIRTIO_GPU_CMD_GET_DISPLAY_INFO
    case resourceCreate2D = 0x0101       // VIRTIO_GPU_CMD_RESOURCE_CREATE_2D
    case resourceUnref = 0x0102          // VIRTIO_GPU_CMD_RESOURCE_UNREF
    case setScanout = 0x0103             // VIRTIO_GPU_CMD_SET_SCANOUT
    case resourceFlush = 0x0104          // VIRTIO_GPU_CMD_RESOURCE_FLUSH
    case transferToHost2D = 0x0105       // VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D
    case resourceAttachBacking = 0x0106  // VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING
    case resourceDetachBacking = 0x0107  // VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING
    case getCapsetInfo = 0x0108          // VIRTIO_GPU_CMD_GET_CAPSET_INFO (3D only)
    case getCapset = 0x0109              // VIRTIO_GPU_CMD_GET_CAPSET (3D only)
    case getEDID = 0x010a                // VIRTIO_GPU_CMD_GET_EDID
    case resourceAssignUUID = 0x010b     // VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID
    case resourceCreateBlob = 0x010c     // VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB (blob only)
    case setScanoutBlob = 0x010d         // VIRTIO_GPU_CMD_SET_SCANOUT_BLOB (blob only)
    // 3D (control queue): never offered in 2D mode (GPU2D-3)
    case ctxCreate = 0x0200, ctxDestroy, ctxAttachResource, ctxDetachResource, resourceCreate3D,
         transferToHost3D, transferFromHost3D, submit3D, resourceMapBlob, resourceUnmapBlob
    // cursor queue
    case updateCursor = 0x0300           // VIRTIO_GPU_CMD_UPDATE_CURSOR
    case moveCursor = 0x0301             // VIRTIO_GPU_CMD_MOVE_CURSOR

    /// GPU2D-2: which virtqueue carries the command (cursorq for the two cursor commands, controlq for the rest).
    var queue: GPUQueue { rawValue >= 0x0300 ? .cursor : .control }

    /// Commands that belong to 3D (virgl), blob or capset support, none of which 2D mode offers.
    var isUnsupportedIn2D: Bool {
        switch self {
        case .getCapsetInfo, .getCapset, .resourceCreateBlob, .setScanoutBlob: true
        default: rawValue >= 0x0200 && rawValue < 0x0300
        }
    }
}

/// `enum virtio_gpu_ctrl_type`, response half ([VIRTIO] 5.7.6.7).
public enum GPUResponseType: UInt32, Sendable {
    case okNoData = 0x1100               // VIRTIO_GPU_RESP_OK_NODATA
    case okDisplayInfo = 0x1101          // VIRTIO_GPU_RESP_OK_DISPLAY_INFO
    case okCapsetInfo = 0x1102           // VIRTIO_GPU_RESP_OK_CAPSET_INFO
    case okCapset = 0x1103               // VIRTIO_GPU_RESP_OK_CAPSET
    case okEDID = 0x1104                 // VIRTIO_GPU_RESP_OK_EDID
    case okResourceUUID = 0x1105         // VIRTIO_GPU_RESP_OK_RESOURCE_UUID
    case okMapInfo = 0x1106              // VIRTIO_GPU_RESP_OK_MAP_INFO
    case errUnspec = 0x1200              // VIRTIO_GPU_RESP_ERR_UNSPEC
    case errOutOfMemory = 0x1201         // VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY
    case errInvalidScanoutID = 0x1202    // VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID
    case errInvalidResourceID = 0x1203   // VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID
    case errInvalidContextID = 0x1204    // VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID
    case errInvalidParameter = 0x1205    // VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER
}

extension GPUResponseType {
    /// The spec's name of an error response (for counters and logs); nil for OK responses.
    public var errorName: String? {
        switch self {
        case .errUnspec: "VIRTIO_GPU_RESP_ERR_UNSPEC"
        case .errOutOfMemory: "VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY"
        case .errInvalidScanoutID: "VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID"
        case .errInvalidResourceID: "VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID"
        case .errInvalidContextID: "VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID"
        case .errInvalidParameter: "VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER"
        default: nil
        }
    }
}

/// Header flags (`virtio_gpu_ctrl_hdr.flags`).
public enum GPUFlags {
    public static let fence: UInt32 = 1 << 0          // VIRTIO_GPU_FLAG_FENCE
    public static let infoRingIdx: UInt32 = 1 << 1    // VIRTIO_GPU_FLAG_INFO_RING_IDX (needs F_CONTEXT_INIT)
}

/// Feature bits ([VIRTIO] 5.7.3).
public enum GPUFeatures {
    public static let virgl: UInt64 = 1 << 0          // VIRTIO_GPU_F_VIRGL: never offered (GPU2D-3)
    public static let edid: UInt64 = 1 << 1           // VIRTIO_GPU_F_EDID
    public static let resourceUUID: UInt64 = 1 << 2   // VIRTIO_GPU_F_RESOURCE_UUID
    public static let resourceBlob: UInt64 = 1 << 3   // VIRTIO_GPU_F_RESOURCE_BLOB
    public static let contextInit: UInt64 = 1 << 4    // VIRTIO_GPU_F_CONTEXT_INIT
}

/// Config-space events ([VIRTIO] 5.7.4).
public enum GPUEvents {
    public static let display: UInt32 = 1 << 0        // VIRTIO_GPU_EVENT_DISPLAY
}

/// `enum virtio_gpu_formats` ([VIRTIO] 5.7.6.8): names give the byte order in memory.
public enum GPUFormat: UInt32, Sendable, CaseIterable {
    case b8g8r8a8Unorm = 1
    case b8g8r8x8Unorm = 2
    case a8r8g8b8Unorm = 3
    case x8r8g8b8Unorm = 4
    case r8g8b8a8Unorm = 67
    case x8b8g8r8Unorm = 68
    case a8b8g8r8Unorm = 121
    case r8g8b8x8Unorm = 134

    public static let bytesPerPixel: UInt64 = 4

    /// True when the fourth channel is padding (X), so a cursor made of it is opaque.
    var hasPaddingChannel: Bool {
        switch self {
        case .b8g8r8x8Unorm, .x8r8g8b8Unorm, .x8b8g8r8Unorm, .r8g8b8x8Unorm: true
        default: false
        }
    }
}
