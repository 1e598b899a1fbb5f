// Test support: request builders in the spec's byte layout, and a device with small limits.
import GuestMemory
@testable import VirtioIOMMU
import Wire

enum Req {
    static func head(_ type: UInt8, reserved: [UInt8] = [0, 0, 0]) -> [UInt8] { [type] + reserved }
    static func attach(domain: UInt32, endpoint: UInt32, flags: UInt32 = 0, reserved: [UInt8] = [0, 0, 0, 0]) -> [UInt8] {
        var w = WireWriter()
        w.write(bytes: head(1)); w.write(domain); w.write(endpoint); w.write(flags); w.write(bytes: reserved)
        return w.bytes
    }
    static func detach(domain: UInt32, endpoint: UInt32, reserved: [UInt8] = .init(repeating: 0, count: 8)) -> [UInt8] {
        var w = WireWriter()
        w.write(bytes: head(2)); w.write(domain); w.write(endpoint); w.write(bytes: reserved)
        return w.bytes
    }
    static func map(domain: UInt32, start: UInt64, end: UInt64, phys: UInt64, flags: UInt32 = 3) -> [UInt8] {
        var w = WireWriter()
        w.write(bytes: head(3)); w.write(domain); w.write(start); w.write(end); w.write(phys); w.write(flags)
        return w.bytes
    }
    static func unmap(domain: UInt32, start: UInt64, end: UInt64, reserved: [UInt8] = [0, 0, 0, 0]) -> [UInt8] {
        var w = WireWriter()
        w.write(bytes: head(4)); w.write(domain); w.write(start); w.write(end); w.write(bytes: reserved)
        return w.bytes
    }
    static func probe(endpoint: UInt32, reserved: [UInt8] = .init(repeating: 0, count: 64)) -> [UInt8] {
        var w = WireWriter()
        w.write(bytes: head(5)); w.write(endpoint); w.write(bytes: reserved)
        return w.bytes
    }
}

let page: UInt64 = 0x1000
let allFeatures = IOMMUFeatures.offered

func makeDevice(endpoints: [IOMMUEndpointConfig] = [.init(id: 1), .init(id: 2)],
                features: UInt64 = allFeatures, configure: (inout IOMMULimits) -> Void = { _ in }) -> IOMMUDevice {
    var limits = IOMMULimits()
    limits.warningsPerSecond = 0        // quiet tests
    limits.domainRange = 1...100
    limits.inputRange = IOVARange(first: 0, last: (1 << 40) - 1)!
    configure(&limits)
    let device = IOMMUDevice(configuration: IOMMUConfiguration(endpoints: endpoints, limits: limits))
    device.setNegotiatedFeatures(features)
    return device
}

extension IOMMUDevice {
    /// The status in the tail, nil when the device wrote nothing.
    @discardableResult
    func status(_ request: [UInt8], writable: Int = 4) -> IOMMUStatus? {
        handle(request: request, writableLength: writable).status
    }

    func dma(_ endpoint: UInt32, _ iova: UInt64, _ length: UInt64, _ access: DMAAccess) -> Result<[GuestRange], GuestMemoryError> {
        Result { () throws(GuestMemoryError) in try translator(for: endpoint).translate(iova, length: length, access: access) }
    }
}

extension Result {
    var failed: Bool { if case .failure = self { true } else { false } }
}
