// Per-client limits and refusal counters (issue 6 item 4): limits come from flags and a --config file's client
// section; every refusal is counted and shown by GET /v1/clients.
import Display
import Foundation
import Testing
import VireoServer
import VireoTestSupport
import VirtioIOMMU

@Suite("Client limits and refusal counters", .serialized)
struct ClientLimitsTests {
    @Test("GPU refusals are counted per client by their spec name; bad chains and vhost-user NACKs too")
    func gpuRefusalsCounted() throws {
        let bench = try GPUTestBench()
        let server = try #require(bench.server)
        let before = server.counters.snapshot
        #expect(bench.submit(GPURequest.flush(99, Rect(x: 0, y: 0, width: 1, height: 1))).flatMap(GPURequest.responseType)
                == 0x1203)
        #expect(bench.submit(GPURequest.create2D(1, format: 999, width: 4, height: 4)).flatMap(GPURequest.responseType)
                == 0x1205)
        #expect(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408).flatMap(GPURequest.responseType) == 0x1101)
        let after = server.counters.snapshot
        #expect(after.gpuCommands - before.gpuCommands == 3)
        #expect(after.gpuRefusals["VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID"] == 1)
        #expect(after.gpuRefusals["VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER"] == 1)
        #expect(after.gpuConnections == 1)
        let report = try #require(server.clientReports().first)
        #expect(report.refusalsTotal == 2)
        #expect(report.connected)
    }

    @Test("IOMMU limit and translation refusals are counted per client and reported with the client's limits")
    func iommuRefusalsCounted() throws {
        var limits = IOMMULimits()
        limits.maxMappings = 3
        let rig = try IOMMURig(limits: limits)
        try rig.connectIOMMU()
        rig.attachAndMap()   // three mappings: the limit
        // A fourth mapping is refused for the client's limit (NOMEM = 8).
        #expect(rig.driver.map(domain: IOMMURig.domain, iova: 0xa000_0000, phys: 0, size: 4096, flags: 3) == 8)
        try rig.setUpGPU()
        rig.driver.postEventBuffers(4)
        // A device write into the read-only mapping: refused translation, fault reported.
        _ = rig.post(GPURequest.getDisplayInfo(), responseSize: 408, responseIOVA: IOMMURig.readOnlyIOVA)
        _ = try #require(rig.bench.controlq.waitUsed(timeout: 5))
        let server = try #require(rig.bench.server)
        let report = try #require(server.clientReports().first)
        let json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any])
        let iommu = try #require(json["iommu"] as? [String: Any])
        #expect(iommu["max_mappings"] as? Int == 3)
        #expect(iommu["mappings"] as? Int == 3)
        #expect(iommu["endpoint"] as? Int == Int(IOMMURig.endpoint))
        #expect((iommu["limit_refusals"] as? [String: Int])?["mappings"] == 1)
        #expect((iommu["refused_translations"] as? Int ?? 0) >= 1)
        #expect((iommu["faults_recorded"] as? Int ?? 0) >= 1)
        #expect((json["refusals_total"] as? Int ?? 0) >= 2)
    }

    @Test("vireo-gpu --config: the client section sets the limits, flags override it, /v1/clients shows them and the refusals")
    func configFileAndAPI() async throws {
        let dir = NSTemporaryDirectory() + "vireo-config-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/vireo.json"
        try #"{"client": {"gpu": {"memory_quota_mib": 1, "max_resources": 7}, "iommu": {"max_domains": 2}}}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let backend = try RunningBackend(extraArguments: ["--config", config, "--max-resources", "5"])
        // 1 MiB quota: a 1024x1024 resource (4 MiB) is refused with ERR_OUT_OF_MEMORY.
        #expect(backend.bench.submit(GPURequest.create2D(50, format: 2, width: 1024, height: 1024))
            .flatMap(GPURequest.responseType) == 0x1201)
        let reply = try await request(.unix(path: backend.httpSocket), "GET", "/v1/clients")
        #expect(reply.status == 200)
        let list = try #require(try JSONSerialization.jsonObject(with: Data(reply.body)) as? [[String: Any]])
        let client = try #require(list.first)
        let limits = try #require(client["gpu_limits"] as? [String: Any])
        #expect(limits["host_memory_quota_bytes"] as? Int == 1 << 20)
        #expect(limits["max_resources"] as? Int == 5)              // the flag wins over the file's 7
        let counters = try #require(client["counters"] as? [String: Any])
        #expect((counters["gpu_refusals"] as? [String: Int])?["VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY"] == 1)
        #expect(client["connected"] as? Bool == true)
        #expect(client["iommu"] == nil)                             // no --iommu-socket
        let one = try await request(.unix(path: backend.httpSocket), "GET", "/v1/clients/0")
        #expect(one.status == 200 && one.json?["id"] as? Int == 0)
        for bad in ["/v1/clients/1", "/v1/clients/x", "/v1/clients/-1"] {
            let r = try await request(.unix(path: backend.httpSocket), "GET", bad)
            #expect(r.status == 404 && !r.error.isEmpty, "\(bad)")
        }
        #expect(try await request(.unix(path: backend.httpSocket), "GET", "/v1/clients?x=1").status == 400)
    }

    @Test("a bad --config is a usage error naming the problem", arguments: [
        (#"{"client": {"gpu": {"max_resourcs": 3}}}"#, "unknown key \"client.gpu.max_resourcs\""),
        (#"{"client": {"iommu": {"max_domains": true}}}"#, "client.iommu.max_domains"),
        (#"{"client": {"iommu": {"iova_window": "0x2000-0x1000"}}}"#, "IOVA window"),
        (#"{"client": {"gpu": {"memory_quota_mib": 0}}}"#, "memory quota"),
        (#"{"clients": {}}"#, "unknown key \"clients\""),
        ("[1, 2]", "not a JSON object"),
    ])
    func badConfig(text: String, message: String) throws {
        let path = NSTemporaryDirectory() + "vireo-badconfig-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try run(try productsDirectory().appendingPathComponent("vireo-gpu").path,
                             ["--socket-path", path + ".sock", "--config", path])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}
