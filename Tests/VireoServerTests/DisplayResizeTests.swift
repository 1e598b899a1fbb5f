// A viewer's resize (VNC SetDesktopSize, GPUServer.resizeDisplay) with the test driver as frontend and guest:
// where Vireo decides the displays and the frontend gave a backend channel, the mode changes, the guest sees
// VIRTIO_GPU_EVENT_DISPLAY (GPU2D-4) and the frontend gets VHOST_USER_BACKEND_CONFIG_CHANGE_MSG; otherwise the
// viewer gets the reason.
import Display
import Foundation
import RFBTestClient
import Testing
import VhostUser
import VireoServer
import VireoSystem
import VireoTestSupport
import Wire
#if canImport(Glibc)
import Glibc
#endif

/// The next backend-initiated request on the frontend's end of the backend channel (its request code), or nil.
func nextBackendRequest(_ socket: OwnedFD, timeoutMS: Int32 = 5000) -> UInt32? {
    guard (try? UnixSocket.waitReadable(socket, timeoutMS: timeoutMS)) == true,
          let head = try? UnixSocket.receiveExactly(socket, count: 12) else { return nil }
    var r = WireReader(head)
    guard let request = try? r.read(UInt32.self), let _ = try? r.read(UInt32.self),
          let size = try? r.read(UInt32.self) else { return nil }
    if size > 0 { _ = try? UnixSocket.receiveExactly(socket, count: Int(size)) }
    return request
}

/// The reason a resize was refused (nil: it was passed on).
func refusal(_ result: Result<Void, DisplayResizeError>) -> DisplayResizeError? {
    if case .failure(let error) = result { return error }
    return nil
}

/// GET_DISPLAY_INFO's first pmode: (width, height, enabled).
func firstMode(_ bench: GPUTestBench) throws -> (UInt32, UInt32, UInt32) {
    var r = WireReader(try #require(bench.submit(GPURequest.getDisplayInfo(), responseSize: 408)))
    try r.skip(32)
    return (try r.read(), try r.read(), try r.read())
}

@Suite("Display resize asked by a viewer", .serialized)
struct DisplayResizeTests {
    @Test("GPU2D-4: a resize where Vireo decides the displays: new mode, VIRTIO_GPU_EVENT_DISPLAY, CONFIG_CHANGE_MSG")
    func resizeReachesTheGuest() throws {
        let (frontendEnd, backendEnd) = try UnixSocket.pair()
        let bench = try GPUTestBench(backendRequests: backendEnd)
        let server = try #require(bench.server)
        #expect(try firstMode(bench) == (1280, 800, 1))
        #expect(try bench.frontend.getConfig()[0] == 0)                      // events_read
        let result = server.resizeDisplay(DisplayResizeRequest(scanout: 0, width: 1024, height: 768))
        #expect(refusal(result) == nil, "\(result)")
        #expect(nextBackendRequest(frontendEnd) == VhostUserBackendRequest.configChangeMsg.rawValue)
        #expect(try bench.frontend.getConfig()[0] == 1)                      // VIRTIO_GPU_EVENT_DISPLAY
        #expect(try firstMode(bench) == (1024, 768, 1))
        // The same size again changes nothing and tells nobody.
        #expect(refusal(server.resizeDisplay(DisplayResizeRequest(scanout: 0, width: 1024, height: 768))) == nil)
        #expect(nextBackendRequest(frontendEnd, timeoutMS: 200) == nil)
    }

    @Test("Refusals carry the reason: no guest, unknown scanout, bad size, no backend channel, QEMU's display channel")
    func refusals() throws {
        let idle = GPUServer(config: ServerConfig(), logger: .init(label: "t"))
        #expect(refusal(idle.resizeDisplay(DisplayResizeRequest(scanout: 0, width: 800, height: 600))) == (.noGuest))

        let (frontendEnd, backendEnd) = try UnixSocket.pair()
        let bench = try GPUTestBench(backendRequests: backendEnd)
        let server = try #require(bench.server)
        #expect(refusal(server.resizeDisplay(DisplayResizeRequest(scanout: 1, width: 800, height: 600))) == (.unknownScanout(1)))
        #expect(refusal(server.resizeDisplay(DisplayResizeRequest(scanout: 0, width: 8, height: 600))) == (.badSize(8, 600)))
        #expect(refusal(server.resizeDisplay(DisplayResizeRequest(scanout: 0, width: 800, height: 20000))) == (.badSize(800, 20000)))
        #expect(nextBackendRequest(frontendEnd, timeoutMS: 200) == nil)
        #expect(try firstMode(bench) == (1280, 800, 1))

        let noChannel = try GPUTestBench()
        #expect(refusal(try #require(noChannel.server).resizeDisplay(DisplayResizeRequest(scanout: 0, width: 800, height: 600))) == (.noConfigChannel))
        #expect(try firstMode(noChannel) == (1280, 800, 1))

        // Like QEMU's vhost-user-gpu: its display decides the size (and QEMU refuses a backend's config change).
        let fake = try FakeDisplayFrontend(modes: [(640, 480)])
        defer { fake.stop() }
        let (qemuEnd, qemuBackendEnd) = try UnixSocket.pair()
        let qemuLike = try GPUTestBench(sideChannel: fake, backendRequests: qemuBackendEnd)
        #expect(try firstMode(qemuLike) == (640, 480, 1))
        #expect(refusal(try #require(qemuLike.server).resizeDisplay(DisplayResizeRequest(scanout: 0, width: 800, height: 600))) == (.frontendOwnsDisplays))
        #expect(nextBackendRequest(qemuEnd, timeoutMS: 200) == nil)
        #expect(try firstMode(qemuLike) == (640, 480, 1))
    }
}
