// IOMMUDevice+Config: `struct virtio_iommu_config` (IOMMU-4) and the driver's one writable field, `bypass`.
import Wire

extension IOMMUDevice {
    public static let configSize = 40
    static let bypassOffset = 36

    /// IOMMU-4: page_size_mask, input_range, domain_range, probe_size, bypass, reserved[3].
    public var configSpace: [UInt8] {
        state.withLock { s in
            var w = WireWriter(capacity: Self.configSize)
            w.write(s.config.pageSizeMask)                      // page_size_mask
            w.write(s.config.limits.inputRange.first)           // input_range.start
            w.write(s.config.limits.inputRange.last)            // input_range.end
            w.write(s.config.limits.domainRange.lowerBound)     // domain_range.start
            w.write(s.config.limits.domainRange.upperBound)     // domain_range.end
            w.write(s.config.probeSize)                         // probe_size
            w.write(s.bypassField)                              // bypass: only ever 0 or 1
            w.write(zeros: 3)                                   // reserved
            return w.bytes
        }
    }

    /// IOMMU-4: "When the VIRTIO_IOMMU_F_BYPASS_CONFIG feature is negotiated, the driver MAY write to bypass. The
    /// driver MUST NOT write to any other device configuration field": other writes are ignored (and logged).
    /// Only bit 0 counts, so `bypass` never reads other than 0 or 1.
    public func writeConfig(offset: UInt32, bytes: [UInt8]) {
        state.withLock { s in
            for (i, byte) in bytes.enumerated() {
                let (pos, overflow) = UInt64(offset).addingReportingOverflow(UInt64(i))
                if !overflow, pos == Self.bypassOffset, s.negotiated(IOMMUFeatures.bypassConfig) {
                    s.bypassField = byte & 1
                } else {
                    s.warnings.warn("config write at offset \(offset)+\(i) ignored", metadata: ["rule": "IOMMU-4"])
                }
            }
        }
    }
}
