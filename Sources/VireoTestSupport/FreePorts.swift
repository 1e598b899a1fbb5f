// FreePorts: loopback TCP ports for servers a test starts (VNC, HTTP), found by binding to them.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `count` consecutive free TCP ports >= 5900 (gvnccapture names a port as display PORT-5900).
public func freeTCPPorts(_ count: Int) -> Int {
    func free(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
    for _ in 0..<200 {
        let base = Int.random(in: 20000...40000)
        if (0..<count).allSatisfy({ free(base + $0) }) { return base }
    }
    return 34500
}
