// The --vnc options: one VNC server per scanout (scanout N on PORT+N), following the connected guest's displays.
import ArgumentParser
import Display
import DisplayVNC
import Foundation
import Logging
import VireoServer

/// `--vnc`: HOST:PORT, PORT (loopback) or none.
struct VNCAddress: Equatable {
    var host: String
    var port: Int

    /// nil for "none".
    static func parse(_ spec: String) throws -> VNCAddress? {
        if spec == "none" { return nil }
        let colon = spec.lastIndex(of: ":")
        let portText = colon.map { String(spec[spec.index(after: $0)...]) } ?? spec
        let host = colon.map { String(spec[..<$0]) } ?? "127.0.0.1"
        guard let port = Int(portText), (1...65535).contains(port), portText.allSatisfy(\.isNumber) else {
            throw ValidationError("--vnc \(spec): expected HOST:PORT, PORT (127.0.0.1) or none")
        }
        guard host == "localhost" || host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy({
            UInt8($0) != nil }) else {
            throw ValidationError("--vnc \(spec): HOST must be an IPv4 address (0.0.0.0 for all) or localhost")
        }
        return VNCAddress(host: host, port: port)
    }
}

/// The VNC password: the file's first line (VNC authentication uses its first 8 characters).
func readVNCPassword(_ path: String) throws -> String {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw ValidationError("--vnc-password-file \(path): cannot read it")
    }
    let password = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
    guard !password.isEmpty, password.utf8.count <= 256 else {
        throw ValidationError("--vnc-password-file \(path): the first line must be the password")
    }
    return password
}

/// Starts a VNC server for each scanout; they live as long as the process.
func startVNC(address: VNCAddress, modes: [DisplayMode], password: String?, websocketPort: Int?,
              tlsCertificate: String?, tlsKey: String?, server: GPUServer, logger: Logger) throws -> [VNCServer] {
    if password == nil && !["127.0.0.1", "localhost"].contains(address.host) && !address.host.hasPrefix("127.") {
        logger.warning("VNC on \(address.host) without --vnc-password-file: anyone who can reach it sees the screen")
    }
    return try modes.enumerated().map { index, mode in
        var configuration = VNCConfiguration(host: address.host, port: address.port + index)
        configuration.password = password
        configuration.websocketPort = websocketPort.map { $0 + index } ?? 0
        configuration.tlsCertificatePath = tlsCertificate
        configuration.tlsKeyPath = tlsKey
        configuration.desktopName = "Vireo scanout \(index)"
        configuration.blankWidth = mode.width
        configuration.blankHeight = mode.height
        // The client's virtio-input device (--input-socket), or a sink that drops events and says so once.
        // SetDesktopSize goes to the guest where the frontend lets Vireo change the display (see DisplayResize).
        let resize: VNCResizeRequest = { scanout, width, height in
            switch server.resizeDisplay(DisplayResizeRequest(scanout: scanout, width: width, height: height)) {
            case .success: nil
            case .failure(let error): "\(error)"
            }
        }
        let vnc = try VNCServer(scanout: index, configuration: configuration, input: server.inputSink, logger: logger,
                                resizeRequest: resize, displays: { server.displays })
        try vnc.start()
        return vnc
    }
}
