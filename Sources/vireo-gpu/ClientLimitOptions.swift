// ClientLimitOptions: the client's limits, from flags and from the `client` section of a --config file (flags win).
// The file is strict: an unknown key or a value of the wrong type is an error, so a typo never silently leaves a
// limit at its default.
import ArgumentParser
import Foundation
import VirtioGPU
import VirtioIOMMU

struct ClientLimitOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "A JSON configuration file; its \"client\" section sets this client's limits (see docs/configuration.md). Flags override it.")
    var configFile: String?

    @Option(name: .customLong("memory-quota"), help: "Host memory for resources per connection, in MiB (default 256).")
    var memoryQuotaMiB: UInt64?

    @Option(name: .customLong("max-resources"), help: "Most resources per connection (default 4096).")
    var maxResources: Int?

    @Option(name: .customLong("max-backing-entries"), help: "Most backing entries in one RESOURCE_ATTACH_BACKING (default 16384).")
    var maxBackingEntries: UInt32?

    @Option(name: .customLong("iommu-max-mappings"), help: "Most live virtio-iommu mappings (past it MAP answers NOMEM; default 65536).")
    var iommuMaxMappings: Int?

    @Option(name: .customLong("iommu-max-mapped-mib"), help: "Most guest memory mapped through the virtio-iommu, in MiB (past it MAP answers NOMEM; default 16384).")
    var iommuMaxMappedMiB: UInt64?

    @Option(name: .customLong("iommu-max-domains"), help: "Most live virtio-iommu domains (past it ATTACH answers NOMEM; default 64).")
    var iommuMaxDomains: Int?

    @Option(name: .customLong("iommu-iova-window"), help: "The IOVA window FIRST-LAST (inclusive, hex with 0x or decimal) the guest may map; presented as input_range (default 0x0-0xffffffffffff).")
    var iommuIOVAWindow: String?

    /// The limits flags and the config file give, on top of the defaults.
    func resolve() throws -> (gpu: GPUDeviceLimits, iommu: IOMMULimits) {
        var file = ClientSection()
        if let configFile { file = try ClientSection.load(configFile) }
        var gpu = GPUDeviceLimits(), iommu = IOMMULimits()
        let quotaMiB = memoryQuotaMiB ?? file.memoryQuotaMiB ?? (gpu.hostMemoryQuota >> 20)
        guard quotaMiB > 0, quotaMiB <= 1 << 20 else { throw ValidationError("memory quota: 1...1048576 MiB") }
        gpu.hostMemoryQuota = quotaMiB << 20
        gpu.maxResources = maxResources ?? file.maxResources ?? gpu.maxResources
        guard gpu.maxResources > 0 else { throw ValidationError("max resources must be positive") }
        gpu.maxBackingEntries = maxBackingEntries ?? file.maxBackingEntries ?? gpu.maxBackingEntries
        guard (1...16384).contains(gpu.maxBackingEntries) else { throw ValidationError("max backing entries: 1...16384") }

        iommu.maxMappings = iommuMaxMappings ?? file.iommuMaxMappings ?? iommu.maxMappings
        guard iommu.maxMappings > 0 else { throw ValidationError("IOMMU max mappings must be positive") }
        let mappedMiB = iommuMaxMappedMiB ?? file.iommuMaxMappedMiB ?? (iommu.maxMappedBytes >> 20)
        guard mappedMiB > 0, mappedMiB <= 1 << 30 else { throw ValidationError("IOMMU max mapped MiB: 1...2^30") }
        iommu.maxMappedBytes = mappedMiB << 20
        iommu.maxDomains = iommuMaxDomains ?? file.iommuMaxDomains ?? iommu.maxDomains
        guard iommu.maxDomains > 0 else { throw ValidationError("IOMMU max domains must be positive") }
        if let window = iommuIOVAWindow ?? file.iommuIOVAWindow { iommu.inputRange = try Self.parseWindow(window) }
        return (gpu, iommu)
    }

    /// "FIRST-LAST", each hex (0x...) or decimal; FIRST <= LAST and FIRST page-aligned so the window is mappable.
    static func parseWindow(_ text: String) throws -> IOVARange {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        func number(_ s: Substring) -> UInt64? {
            let t = s.trimmingCharacters(in: .whitespaces).lowercased()
            return t.hasPrefix("0x") ? UInt64(t.dropFirst(2), radix: 16) : UInt64(t)
        }
        guard parts.count == 2, let first = number(parts[0]), let last = number(parts[1]),
              let range = IOVARange(first: first, last: last), first & 0xfff == 0, last & 0xfff == 0xfff
        else {
            throw ValidationError("IOVA window '\(text)': expected FIRST-LAST with FIRST <= LAST, FIRST 4 KiB-aligned and LAST one below a 4 KiB boundary (e.g. 0x0-0xffffffff)")
        }
        return range
    }
}

/// The `client` section of a --config file:
/// `{"client": {"gpu": {"memory_quota_mib", "max_resources", "max_backing_entries"},
///              "iommu": {"max_mappings", "max_mapped_mib", "max_domains", "iova_window"}}}`.
struct ClientSection {
    var memoryQuotaMiB: UInt64?
    var maxResources: Int?
    var maxBackingEntries: UInt32?
    var iommuMaxMappings: Int?
    var iommuMaxMappedMiB: UInt64?
    var iommuMaxDomains: Int?
    var iommuIOVAWindow: String?

    private struct File: Decodable {
        struct Client: Decodable { var gpu: GPU?; var iommu: IOMMU? }
        struct GPU: Decodable {
            var memory_quota_mib: UInt64?
            var max_resources: Int?
            var max_backing_entries: UInt32?
        }
        struct IOMMU: Decodable {
            var max_mappings: Int?
            var max_mapped_mib: UInt64?
            var max_domains: Int?
            var iova_window: String?
        }
        var client: Client?
    }
    /// Every key the file may have, by the path of the object holding it.
    private static let knownKeys: [String: Set<String>] = [
        "": ["client"], "client": ["gpu", "iommu"],
        "client.gpu": ["memory_quota_mib", "max_resources", "max_backing_entries"],
        "client.iommu": ["max_mappings", "max_mapped_mib", "max_domains", "iova_window"],
    ]

    static func load(_ path: String) throws -> ClientSection {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("--config \(path): cannot read the file")
        }
        return try parse(data, name: path)
    }

    static func parse(_ data: Data, name: String) throws -> ClientSection {
        func fail(_ why: String) -> ValidationError { ValidationError("--config \(name): \(why)") }
        guard let top = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw fail("not a JSON object")
        }
        // Unknown keys: a typo must not leave a limit at its default unnoticed.
        func check(_ object: [String: Any], _ path: String) throws {
            let known = knownKeys[path] ?? []
            for key in object.keys.sorted() {
                let keyPath = path.isEmpty ? key : "\(path).\(key)"
                guard known.contains(key) else {
                    throw fail("unknown key \"\(keyPath)\" (known here: \(known.sorted().joined(separator: ", ")))")
                }
                if let inner = object[key] as? [String: Any] { try check(inner, keyPath) }
            }
        }
        try check(top, "")
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch let DecodingError.typeMismatch(_, c) {
            throw fail("\"\(c.codingPath.map(\.stringValue).joined(separator: "."))\": wrong type (\(c.debugDescription))")
        } catch let DecodingError.dataCorrupted(c) {
            throw fail("\"\(c.codingPath.map(\.stringValue).joined(separator: "."))\": \(c.debugDescription)")
        } catch {
            throw fail("\(error)")
        }
        return ClientSection(
            memoryQuotaMiB: file.client?.gpu?.memory_quota_mib, maxResources: file.client?.gpu?.max_resources,
            maxBackingEntries: file.client?.gpu?.max_backing_entries,
            iommuMaxMappings: file.client?.iommu?.max_mappings, iommuMaxMappedMiB: file.client?.iommu?.max_mapped_mib,
            iommuMaxDomains: file.client?.iommu?.max_domains, iommuIOVAWindow: file.client?.iommu?.iova_window)
    }
}
