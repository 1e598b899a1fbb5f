// VNC authentication for the raw test client: DES through openssl's legacy provider.
import Foundation
import RFBTestClient
#if canImport(Glibc)
import Glibc
#endif

extension RawRFBClient {
    /// The handshake with VNC authentication and `password`; false when the server refused it.
    func handshake(password: String) throws -> Bool {
        try handshake(respond: { try vncAuthResponse(challenge: $0, password: password) })
    }
}

/// The VNC authentication response: DES-ECB of the challenge with the password (8 bytes, zero-padded, each byte's
/// bits reversed) as the key. openssl's legacy provider does the DES.
func vncAuthResponse(challenge: [UInt8], password: String) throws -> [UInt8] {
    var key = Array(password.utf8.prefix(8))
    key += [UInt8](repeating: 0, count: 8 - key.count)
    let reversed = key.map { b -> UInt8 in
        var r: UInt8 = 0
        for bit in 0..<8 where b & (1 << bit) != 0 { r |= 0x80 >> bit }
        return r
    }
    let hex = reversed.map { String(format: "%02x", $0) }.joined()
    let dir = NSTemporaryDirectory() + "vnc-des-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { unlink(dir + ".in"); unlink(dir + ".out") }
    try Data(challenge).write(to: URL(fileURLWithPath: dir + ".in"))
    let result = runTool("/usr/bin/openssl", ["enc", "-des-ecb", "-K", hex, "-nopad", "-in", dir + ".in", "-out",
                                              dir + ".out", "-provider", "legacy", "-provider", "default"])
    guard result.status == 0, let out = try? Data(contentsOf: URL(fileURLWithPath: dir + ".out")), out.count == 16 else {
        throw RFBError(description: "openssl DES failed: \(result.output)")
    }
    return [UInt8](out)
}
