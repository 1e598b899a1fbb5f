// swift-tools-version:6.0
// Vireo: a headless vhost-user virtio-gpu backend. Targets are listed bottom layer first; imports point down.
import PackageDescription

let package = Package(
    name: "Vireo",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "vireo-gpu", targets: ["vireo-gpu"]),
        .executable(name: "vireo", targets: ["vireo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        // C shims: headers and wrappers for macros the Clang importer drops. No logic.
        .target(name: "CVireoSystem"),
        .target(name: "CPNG", linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("z")]),
        // libvncserver as the system has it (pkg-config), and the wrappers for what Swift cannot import from it.
        .systemLibrary(name: "CLibVNCServer", pkgConfig: "libvncserver", providers: [.apt(["libvncserver-dev"])]),
        .target(name: "CVNCServer", dependencies: ["CLibVNCServer"]),

        // System: owned fds, sockets with SCM_RIGHTS, epoll, eventfd, memfd, mmap.
        .target(name: "VireoSystem", dependencies: ["CVireoSystem"]),
        // Rate-limited logging of guest-caused faults, shared by the device models.
        .target(name: "VireoLogging", dependencies: [.product(name: "Logging", package: "swift-log")]),
        // Wire: little-endian readers and writers with typed errors.
        .target(name: "Wire"),
        // vhost-user messages (frontend channel, GPU side channel) and their validation.
        .target(name: "VhostUser", dependencies: ["Wire", "VireoSystem"]),
        // Guest memory: regions, snapshots, bounds-checked access, the DMA translation seam.
        .target(name: "GuestMemory", dependencies: ["VireoSystem"]),
        // Split virtqueues and descriptor chains.
        .target(name: "Virtio", dependencies: ["GuestMemory", "Wire"]),
        // Display model: scanouts, framebuffers, cursor, damage. Read by PNG/VNC/side channel.
        .target(name: "Display"),
        // The virtio-gpu 2D device: a queue-free state machine.
        .target(name: "VirtioGPU", dependencies: [
            "Wire", "GuestMemory", "Display", "VireoSystem", "VireoLogging", .product(name: "Logging", package: "swift-log"),
        ]),
        // The virtio-iommu device: a queue-free state machine, and the DMA translator of each endpoint.
        .target(name: "VirtioIOMMU", dependencies: [
            "Wire", "GuestMemory", "VireoLogging", .product(name: "Logging", package: "swift-log"),
        ]),
        // The virtio-input device (keyboard + tablet): a queue-free model, keysym/scancode maps, bounded event queue.
        .target(name: "VirtioInput", dependencies: [
            "Wire", "VireoLogging", .product(name: "Logging", package: "swift-log"),
        ]),
        // PNG export of display surfaces.
        .target(name: "DisplayPNG", dependencies: ["CPNG", "Display"]),
        // VNC export of each scanout (libvncserver): damage-driven mirror, cursor, auth, WebSocket, input hooks.
        .target(name: "DisplayVNC", dependencies: [
            "CVNCServer", "Display", .product(name: "Logging", package: "swift-log"),
        ]),
        // Screenshot testing: compare with masks and tolerance, template search, diff pictures. Pure, no I/O.
        .target(name: "DisplayCompare", dependencies: ["Display"]),
        // Server: vhost-user backend connections, listener, HTTP API.
        .target(name: "VireoServer", dependencies: [
            "VireoSystem", "Wire", "VhostUser", "GuestMemory", "Virtio", "VirtioGPU", "VirtioIOMMU", "VirtioInput",
            "Display", "DisplayPNG", "DisplayCompare", .product(name: "Logging", package: "swift-log"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
        .executableTarget(name: "vireo-gpu", dependencies: [
            "VireoServer", "Display", "DisplayPNG", "DisplayVNC", "VirtioIOMMU",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The screenshot-testing CLI: a small HTTP/1.1 client of vireo-gpu's API (TCP or unix socket).
        .executableTarget(name: "vireo", dependencies: [
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Benchmarks (not tests: they measure, never assert timing).
        .executableTarget(name: "vnc-bench", dependencies: ["DisplayVNC", "Display", "RFBTestClient"],
                          path: "Benchmarks/VNCBench"),
        .executableTarget(name: "png-bench", dependencies: ["DisplayPNG", "Display", "VireoTestSupport"],
                          path: "Benchmarks/PNGBench"),

        // A minimal raw RFB client for the VNC tests and vnc-bench (no Vireo dependencies).
        .target(name: "RFBTestClient"),
        // Test support: plays the hypervisor (vhost-user frontend) and the guest driver over real sockets.
        .target(name: "VireoTestSupport", dependencies: [
            "VireoSystem", "Wire", "VhostUser", "GuestMemory", "Virtio", "VirtioGPU", "Display", "VireoServer",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Benchmarks: Vireo against QEMU's vhost-user-gpu backends (child processes), one driver for all.
        .executableTarget(name: "vireo-bench", dependencies: ["VireoTestSupport", "VhostUser", "Display", "DisplayPNG"],
                          path: "Benchmarks/vireo-bench"),
        // The cost of DMA translation (virtio-iommu, IOTLB) on the frame path, MAP+UNMAP rates, lookup cost.
        .executableTarget(name: "iommu-bench", dependencies: ["VireoTestSupport", "VireoServer", "VirtioIOMMU",
                                                             "GuestMemory", "Display", "Wire",
                                                             .product(name: "Logging", package: "swift-log")],
                          path: "Benchmarks/iommu-bench"),
        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "GuestMemoryTests", dependencies: ["GuestMemory", "VireoSystem"]),
        .testTarget(name: "VirtioTests", dependencies: ["Virtio", "GuestMemory", "VireoSystem", "VireoTestSupport"]),
        .testTarget(name: "VirtioGPUTests", dependencies: ["VirtioGPU", "Display", "GuestMemory", "VireoSystem", "Wire"]),
        .testTarget(name: "VirtioIOMMUTests", dependencies: ["VirtioIOMMU", "GuestMemory", "VireoSystem", "Wire"]),
        .testTarget(name: "VirtioInputTests", dependencies: ["VirtioInput", "Wire"]),
        .testTarget(name: "DisplayPNGTests", dependencies: ["DisplayPNG", "Display", "CPNG"]),
        .testTarget(name: "DisplayCompareTests", dependencies: ["DisplayCompare", "Display"]),
        .testTarget(name: "DisplayVNCTests", dependencies: [
            "DisplayVNC", "Display", "DisplayPNG", "DisplayCompare", "RFBTestClient", "VireoTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "VireoServerTests", dependencies: [
            "VireoServer", "VireoTestSupport", "VhostUser", "VirtioGPU", "VirtioIOMMU", "Display", "DisplayPNG",
            "VireoSystem", "Wire", "GuestMemory", "DisplayCompare", "VirtioInput", "RFBTestClient",
        ]),
    ],
    swiftLanguageModes: [.v6]
)
