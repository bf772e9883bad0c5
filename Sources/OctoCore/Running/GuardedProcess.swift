import CGuard

#if canImport(Glibc)
    import Glibc
#endif

/// A job's process group, started under a guard process (see
/// `Sources/CGuard/guard.c`): if this octo process dies, even by SIGKILL, the
/// guard kills the whole group; `terminate()` and `kill()` signal the whole
/// group, never a recycled pid.
final class GuardedProcess {
    let guardPID: pid_t
    private(set) var controlFD: Int32
    private(set) var statusFD: Int32
    private(set) var stdoutFD: Int32
    private(set) var stderrFD: Int32
    /// The job's pid, which is also its process group id.
    private(set) var jobPID: pid_t?
    /// The job's wait status once its main process exited.
    private(set) var waitStatus: Int32?
    /// errno of a failed exec.
    private(set) var execError: Int32?
    /// The guard SIGKILLed the group because its deadline passed (see `setDeadline`).
    private(set) var killedAtDeadline = false
    private var guardReaped = false

    /// Starts `/bin/sh -c command` with `environment`. `grace` is how long
    /// leftovers in the group get between SIGTERM and SIGKILL once the shell exited.
    /// `deadline` (monotonic seconds, as `Monotonic.seconds()`; nil: none): the guard SIGKILLs the group when
    /// it passes, whatever this process is doing, unless `setDeadline` moved it first.
    convenience init(
        command: String, environment: [String: String], graceMilliseconds: Int, title: String,
        deadline: Double? = nil
    ) throws(OctoError) {
        try self.init(
            shellArguments: ["sh", "-c", command], environment: environment, graceMilliseconds: graceMilliseconds,
            title: title,
            deadline: deadline)
    }

    /// Starts `/bin/sh` with `argv` (its first element is the shell's name).
    /// `title`: the guard's command line as `ps` shows it (e.g. `octo guard: run 12 of backup`).
    init(
        shellArguments argv: [String], environment: [String: String], graceMilliseconds: Int, title: String,
        deadline: Double? = nil
    ) throws(OctoError) {
        let envp = environment.map { $0.key + "=" + $0.value }
        var cArgv: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var cEnvp: [UnsafeMutablePointer<CChar>?] = envp.map { strdup($0) } + [nil]
        defer {
            for p in cArgv { free(p) }
            for p in cEnvp { free(p) }
        }
        var job = octo_guarded_job()
        let area = GuardedProcess.commandLineArea
        let rc = octo_spawn_guarded(
            "/bin/sh", &cArgv, &cEnvp, Int32(graceMilliseconds), deadline.map(GuardedProcess.milliseconds) ?? 0,
            area?.start, area?.count ?? 0, title, &job)
        guard rc == 0 else { throw OctoError.failure("cannot start a job: \(String(cString: strerror(rc)))") }
        (guardPID, controlFD, statusFD, stdoutFD, stderrFD) = (
            job.guard_pid, job.control_fd, job.status_fd, job.stdout_fd, job.stderr_fd
        )
    }

    /// This process's command-line strings (contiguous from `argv[0]`), which
    /// each guard, a forked copy, overwrites with its title.
    nonisolated(unsafe) static let commandLineArea: (start: UnsafeMutablePointer<CChar>, count: Int)? = {
        let argv = CommandLine.unsafeArgv
        guard CommandLine.argc > 0, let first = argv[0] else { return nil }
        var end = first + strlen(first) + 1
        for i in 1..<Int(CommandLine.argc) {
            guard let a = argv[i], a == end else { break }
            end = a + strlen(a) + 1
        }
        return (first, end - first)
    }()

    /// Moves the guard's kill deadline (monotonic seconds, as `Monotonic.seconds()`).
    func setDeadline(_ deadline: Double) {
        guard controlFD >= 0 else { return }
        _ = octo_guard_set_deadline(controlFD, GuardedProcess.milliseconds(deadline))
    }

    /// Monotonic seconds as the guard's milliseconds (never 0, which means no deadline).
    private static func milliseconds(_ seconds: Double) -> Int64 { max(1, Int64((seconds * 1000).rounded(.down))) }

    /// SIGTERM to the job's process group.
    func terminate() { command(UInt8(ascii: "T")) }
    /// SIGKILL to the job's process group.
    func kill() { command(UInt8(ascii: "K")) }

    private func command(_ c: UInt8) {
        guard controlFD >= 0 else { return }
        var byte = c
        _ = write(controlFD, &byte, 1)
    }

    /// Reads the guard's records after poll said `statusFD` is readable.
    /// Returns false when the guard closed it (it is exiting).
    func readStatus() -> Bool {
        var record = octo_guard_record()
        let n = withUnsafeMutableBytes(of: &record) { read(statusFD, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { return true }
        guard n == MemoryLayout<octo_guard_record>.size else {
            closeFD(&statusFD)
            return false
        }
        switch Int(record.kind) {
        case Int(OCTO_GUARD_STARTED): jobPID = record.value
        case Int(OCTO_GUARD_EXITED): waitStatus = record.value
        case Int(OCTO_GUARD_EXEC_FAILED): execError = record.value
        case Int(OCTO_GUARD_DEADLINE): killedAtDeadline = true
        default: break
        }
        return true
    }

    /// The guard died before reporting the job's end: SIGKILL to the job's process group from here (the job's
    /// first process also got SIGKILL from the kernel when its guard died — its parent-death signal — but not
    /// what it started). The group id cannot have been reused while any process of the group lives.
    func killOrphanedGroup() {
        if let pid = jobPID, pid > 0 { _ = Glibc.kill(-pid, SIGKILL) }
    }

    /// Whether the guard has written something `readStatus` has not read yet (or closed its end): looks, never waits.
    var statusPending: Bool {
        guard statusFD >= 0 else { return false }
        var p = pollfd(fd: statusFD, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) == 1
    }

    func closeStdout() { closeFD(&stdoutFD) }
    func closeStderr() { closeFD(&stderrFD) }

    /// Reaps the guard if it has exited (it may still be clearing the job's leftovers).
    @discardableResult
    func reapGuard(wait: Bool) -> Bool {
        if guardReaped { return true }
        var status: Int32 = 0
        while true {
            let r = waitpid(guardPID, &status, wait ? 0 : WNOHANG)
            if r < 0 && errno == EINTR { continue }
            if r == guardPID || (r < 0 && errno == ECHILD) { guardReaped = true }
            return guardReaped
        }
    }

    /// Closes our descriptors. Closing the control pipe while the job still
    /// runs makes the guard SIGKILL the group.
    func closeAll() {
        closeFD(&controlFD)
        closeFD(&statusFD)
        closeFD(&stdoutFD)
        closeFD(&stderrFD)
    }

    private func closeFD(_ fd: inout Int32) {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { closeAll() }
}

/// How a wait status reads.
enum WaitStatus {
    static func exitCode(_ s: Int32) -> Int? { (s & 0x7f) == 0 ? Int((s >> 8) & 0xff) : nil }
    static func signal(_ s: Int32) -> Int? { (s & 0x7f) != 0 && (s & 0x7f) != 0x7f ? Int(s & 0x7f) : nil }
}

/// Signal names for messages: `9` → `KILL`.
public func signalName(_ n: Int) -> String {
    let names = [
        1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 6: "ABRT", 7: "BUS", 8: "FPE", 9: "KILL", 10: "USR1",
        11: "SEGV", 12: "USR2", 13: "PIPE", 14: "ALRM", 15: "TERM", 24: "XCPU", 25: "XFSZ"
    ]
    return names[n].map { "SIG" + $0 } ?? "signal \(n)"
}
