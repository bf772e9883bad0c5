#if canImport(Glibc)
    import Glibc
#endif

/// `octo logger -- CMD ARGS…`: runs a command the way a plain crontab line
/// would, and logs it like a run — its stdout (and stderr, at least `warn`)
/// line by line, `100 start`, a `110 heartbeat` every `heartbeat` seconds,
/// and `120 end` with the exit code or signal and the duration.
///
/// The command runs as `CMD ARGS…` exactly (no shell parsing of the
/// arguments; `CMD` is looked up on `PATH`), with stdin from `/dev/null`, in
/// its own process group under the guard of `GuardedProcess`: if this octo
/// dies, the command's whole group dies too. A SIGTERM, SIGINT or SIGHUP to
/// octo is passed on as SIGTERM to the group (SIGKILL after `grace`), and the
/// end is still logged.
public enum CommandLogger {
    /// How the command ended.
    public struct Ended: Sendable {
        public var exitCode: Int?
        public var signal: Int?
        public var seconds: Double
        /// octo's own exit code for it: the command's, or 128 + signal.
        public var status: Int32 { Int32(exitCode ?? (128 + (signal ?? 0))) }
    }

    /// The command could not be started (`started` false), or its lines
    /// could not be stored nor spooled — after it ended (`ended`), or while it
    /// ran (then it was stopped with its group).
    public struct Failure: Error, CustomStringConvertible {
        public let started: Bool
        public let ended: Ended?
        public let underlying: any Error
        public var description: String { "\(underlying)" }
    }

    public static func run(
        _ arguments: [String], environment: [String: String], pipeline: LogPipeline, heartbeat: Double,
        tee: Bool, grace: Double = 5, stopSignal: () -> Int32
    ) throws -> Ended {
        // `exec "$0" "$@"`: PATH lookup by the shell, the arguments untouched
        let p: GuardedProcess
        do {
            p = try GuardedProcess(
                shellArguments: ["sh", "-c", "exec \"$0\" \"$@\""] + arguments, environment: environment,
                graceMilliseconds: Int(grace * 1000), title: "octo guard: logger")
        } catch {
            throw Failure(started: false, ended: nil, underlying: error)
        }
        defer {
            p.closeAll()
            p.reapGuard(wait: true)
        }
        pipeline.event(.info, .start, "start: " + arguments.map(CrontabBlock.shellQuote).joined(separator: " "))
        var s = Session(process: p, pipeline: pipeline, heartbeat: heartbeat, tee: tee, grace: grace)
        do {
            while !(s.life.hasExited && p.stdoutFD < 0 && p.stderrFD < 0) {
                s.passOn(stopSignal())
                guard try s.turn() else { break }
            }
        } catch {
            throw Failure(started: true, ended: nil, underlying: error)
        }
        let seconds = Monotonic.seconds() - s.started
        let status = p.waitStatus
        var ended = Ended(
            exitCode: status.flatMap(WaitStatus.exitCode), signal: status.flatMap(WaitStatus.signal), seconds: seconds)
        if let e = p.execError {
            pipeline.event(.error, nil, "cannot run /bin/sh: \(String(cString: strerror(e)))")
            ended.exitCode = 127
        }
        let ok = ended.exitCode == 0
        let what =
            ended.exitCode.map { "exit \($0)" } ?? ended.signal.map { "signal \($0) (\(signalName($0)))" }
            ?? "no exit status"
        pipeline.event(
            ok ? .info : .error, .end, "end: \(ok ? "succeeded" : "failed"), \(what) after \(formatSeconds(seconds))")
        do { try pipeline.finish() } catch { throw Failure(started: true, ended: ended, underlying: error) }
        return ended
    }

    /// The command while it runs: its output split into lines, its heartbeat, its stop.
    private struct Session {
        let process: GuardedProcess
        let pipeline: LogPipeline
        let heartbeat: Double
        let tee: Bool
        let grace: Double
        let started = Monotonic.seconds()
        var nextHeartbeat: Double
        var life = RunLifecycle()
        var out = LineSplitter()
        var err = LineSplitter()
        var buffer = [UInt8](repeating: 0, count: 65_536)

        init(process: GuardedProcess, pipeline: LogPipeline, heartbeat: Double, tee: Bool, grace: Double) {
            (self.process, self.pipeline, self.heartbeat, self.tee, self.grace) = (
                process, pipeline, heartbeat, tee, grace
            )
            nextHeartbeat = started + heartbeat
        }

        /// A stop signal octo got goes on to the command's group as SIGTERM, then SIGKILL after the grace.
        mutating func passOn(_ signal: Int32) {
            if signal != 0, life.stop(.interrupted, at: Monotonic.seconds()) != nil {
                pipeline.event(
                    .warn, nil, "octo logger got \(signalName(Int(signal))): SIGTERM to the command's process group")
                process.terminate()
            }
            if !life.hasExited, life.graceOver(at: Monotonic.seconds(), grace: grace) != nil {
                pipeline.event(
                    .error, nil, "still running \(formatSeconds(grace)) after SIGTERM: SIGKILL to the process group")
                process.kill()
            }
        }

        /// Waits for output, the exit or the next heartbeat, and handles what came; false when nothing is left to read.
        mutating func turn() throws -> Bool {
            let p = process
            var fds: [pollfd] = []
            var which: [Int] = []
            for (i, fd) in [p.stdoutFD, p.stderrFD, p.statusFD].enumerated() where fd >= 0 {
                fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
                which.append(i)
            }
            if fds.isEmpty { return false }
            let untilHeartbeat = max(0, nextHeartbeat - Monotonic.seconds())
            let rc = poll(
                &fds, nfds_t(fds.count),
                pipeline.pollTimeout(cap: life.stop == nil ? untilHeartbeat : min(untilHeartbeat, 0.2)))
            if rc < 0 && errno != EINTR { throw OctoError.failure("poll failed: \(String(cString: strerror(errno)))") }
            for (k, pfd) in fds.enumerated() where pfd.revents != 0 {
                if which[k] == 2 {
                    let open = p.readStatus()
                    if !open || p.waitStatus != nil || p.execError != nil { life.exited(at: Monotonic.seconds()) }
                } else {
                    read(pfd.fd, stderr: which[k] == 1)
                }
            }
            let now = Monotonic.seconds()
            if now >= nextHeartbeat {
                nextHeartbeat = now + heartbeat
                pipeline.event(.info, .heartbeat, "heartbeat: running for \(formatSeconds(now - started))")
            }
            try pipeline.storeIfDue()
            return true
        }

        /// Reads what the command wrote on one of its outputs; at its end, the last unterminated line.
        mutating func read(_ fd: Int32, stderr: Bool) {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                if tee { _ = writeAll(stderr ? 2 : 1, Array(buffer[0..<n])) }
                let lines = buffer.withUnsafeBytes { raw in
                    stderr
                        ? err.feed(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
                        : out.feed(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
                }
                for l in lines { pipeline.add(l.text, truncated: l.truncated, stderr: stderr) }
            } else if n == 0 || errno != EINTR {
                if let r = stderr ? err.finish() : out.finish() {
                    pipeline.add(r.text, truncated: r.truncated, stderr: stderr)
                }
                if stderr { process.closeStderr() } else { process.closeStdout() }
            }
        }
    }
}
