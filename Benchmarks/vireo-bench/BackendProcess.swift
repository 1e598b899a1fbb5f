// BackendProcess: one vhost-user GPU backend run as a child process listening on a socket in the bench's temp
// folder. Children die with the bench (setpriv --pdeathsig KILL), are stopped at the end or on a signal, and their
// sockets are removed with the folder.
import Foundation
import Glibc

struct BackendSpec: Sendable {
    var name: String          // short label in tables: "Vireo", "QEMU 7.2", "QEMU 10.0"
    var executable: String
    var version: String
    var isVireo: Bool
    /// Started with Vireo's arguments (the measured Vireo, and a baseline Vireo build from VIREO_GPU_BASELINE).
    var takesVireoArguments = false
}

final class BackendProcess: @unchecked Sendable {
    // Sendable: started and stopped by the main thread; the signal handler only calls `kill`.
    let spec: BackendSpec
    let socketPath: String
    let logPath: String
    private let process = Process()

    init(_ spec: BackendSpec, folder: String, index: Int) throws {
        self.spec = spec
        socketPath = "\(folder)/backend\(index).sock"
        logPath = "\(folder)/backend\(index).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let setpriv = "/usr/bin/setpriv"
        var arguments = [spec.executable, "--socket-path", socketPath]
        if spec.isVireo || spec.takesVireoArguments { arguments += ["--log-level", "warning"] }
        if FileManager.default.isExecutableFile(atPath: setpriv) {
            process.executableURL = URL(fileURLWithPath: setpriv)
            process.arguments = ["--pdeathsig", "KILL", "--"] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: spec.executable)
            process.arguments = Array(arguments.dropFirst())
        }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        ChildRegistry.shared.add(process.processIdentifier)
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// User + system CPU seconds the backend has used so far (all its threads), from /proc/PID/stat.
    func cpuSeconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The last lines the backend wrote (for failure messages).
    func logTail(lines: Int = 15) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// SIGTERM, then SIGKILL after a second; removes the socket file.
    func stop() {
        if process.isRunning {
            kill(pid, SIGTERM)
            let deadline = Date() + 1
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
            if process.isRunning { kill(pid, SIGKILL); process.waitUntilExit() }
        }
        ChildRegistry.shared.remove(pid)
        unlink(socketPath)
    }
}

/// Children and the temp folder, so that SIGINT/SIGTERM (and every exit path) leaves nothing behind.
final class ChildRegistry: @unchecked Sendable {
    static let shared = ChildRegistry()
    private let lock = NSLock()
    private var pids: Set<Int32> = []
    private var folder: String?
    private var sources: [any DispatchSourceSignal] = []

    func add(_ pid: Int32) { lock.withLock { _ = pids.insert(pid) } }
    func remove(_ pid: Int32) { lock.withLock { _ = pids.remove(pid) } }
    func setFolder(_ path: String) { lock.withLock { folder = path } }

    /// Kills every child still registered and removes the temp folder.
    func cleanUp() {
        let (all, dir) = lock.withLock { (pids, folder) }
        for pid in all { kill(pid, SIGKILL) }
        if let dir { try? FileManager.default.removeItem(atPath: dir) }
    }

    func installSignalHandlers() {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                FileHandle.standardError.write(Data("vireo-bench: signal \(sig): stopping backends\n".utf8))
                ChildRegistry.shared.cleanUp()
                exit(128 + sig)
            }
            source.resume()
            lock.withLock { sources.append(source) }
        }
    }
}
