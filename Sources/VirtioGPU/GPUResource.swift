// GPUResource: one 2D resource's host pixels (in its own format), its backing and its UUID.

final class GPUResource {
    let id: UInt32
    let format: GPUFormat
    let width: UInt32
    let height: UInt32
    /// width*height*4 bytes in `format`, rows of `stride` bytes.
    var pixels: [UInt8]
    var backing: BackingTable?
    var uuid: [UInt8]?

    var stride: Int { Int(width) * 4 }
    /// Host bytes charged to the quota.
    var byteSize: UInt64 { UInt64(pixels.count) }

    init(id: UInt32, format: GPUFormat, width: UInt32, height: UInt32, byteSize: Int) {
        self.id = id; self.format = format; self.width = width; self.height = height
        pixels = [UInt8](repeating: 0, count: byteSize)
    }
}
