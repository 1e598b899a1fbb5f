// ChildProcess: starting the programs tests drive (vireo-gpu, vireo, VNC viewers, Xvfb) with posix_spawn
// (Foundation's Process has hung here under load), and waiting for them with a deadline.
import Foundation
import Glibc

public struct SpawnError: Error, CustomStringConvertible {
    public var description: String
}

/// Starts `executable` with stdin from /dev/null and stdout/stderr to files (the same path for both: one file,
/// in order). The child gets default signal dispositions and an empty mask: the test process may ignore or block
/// SIGTERM, which a child would inherit. With `cwd` the command runs through sh (posix_spawn_file_actions_addchdir_np
/// is not imported here). Returns the pid.
public func spawnChild(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                       cwd: String? = nil, stdout: String = "/dev/null", stderr: String = "/dev/null") throws -> pid_t {
    var env = ProcessInfo.processInfo.environment
    env.merge(environment) { $1 }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    if stderr == stdout && stdout != "/dev/null" {
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
    } else {
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    }
    let command = cwd.map { ["/bin/sh", "-c", #"cd "$0" && exec "$@""#, $0, executable] + arguments }
        ?? [executable] + arguments
    let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for p in argv + envp { free(p) } }
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var all = sigset_t(), none = sigset_t()
    sigfillset(&all)
    sigdelset(&all, SIGKILL)
    sigdelset(&all, SIGSTOP)
    sigemptyset(&none)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setsigmask(&attr, &none)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, command[0], &actions, &attr, argv, envp)
    guard rc == 0 else { throw SpawnError(description: "posix_spawn \(executable): \(rc)") }
    return pid
}

/// Waits for `pid` up to `timeout` (then SIGKILLs it); its exit status, or -1 when it did not exit normally.
public func waitExit(_ pid: pid_t, timeout: TimeInterval) -> Int32 {
    let deadline = Date() + timeout
    var status: Int32 = 0
    while true {
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { break }
        if r < 0 { return -1 }
        if Date() >= deadline {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            return -1
        }
        usleep(5000)
    }
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
}
