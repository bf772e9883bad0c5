import CGuard
import MariaDB
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

/// Runs claimed runs under supervision, all from one thread and one
/// connection: each job is `/bin/sh -c COMMAND` in its own process group
/// under a guard (so it dies with this process), its stdout and stderr go
/// line by line to the logs (stderr as `warn`), with `100 start`,
/// `110 heartbeat` every `heartbeat` and `120 end` lines.
///
/// - The lease is renewed with each heartbeat, fenced by the run's token;
///   every couple of seconds the supervisor also checks that the run is still
///   its own. A run that is not (declared lost, killed with `octo sh kill`,
///   replaced) has its process group terminated. A cancelled run is
///   *stopping* until then: its lease, still renewed, holds the job's next
///   run back, and is released once the group is gone (`recordStopped`), so
///   the replaced and the replacing run never overlap.
/// - If renewing fails (database unreachable) until the lease is nearly
///   over, the group is killed: by the time the lease lapses and another
///   machine may retry the run, the original is gone. The guard enforces
///   this on its own (`killDeadline`): each renewal moves its deadline to the
///   time the renewal was *sent* plus the lease minus a margin, so a
///   supervisor stuck in a database call (a silent link, a stopped server)
///   cannot delay the kill.
/// - Timeout: SIGTERM to the group, SIGKILL after `grace`, state `timeout`.
/// - SIGTERM, SIGINT or SIGHUP to this process: no new run is started, each
///   running job's group gets SIGTERM (its traps run), SIGKILL after `grace`,
///   and each end is recorded (`failed`, "interrupted", retried per its job)
///   before `run` returns; `stopSignal` then says which signal it was.
/// - Completion is one fenced transaction (`RunQueue.complete`), after the
///   run's last line is stored, with the run's last local cursor value
///   (whatever the outcome: the cursor is the job's own checkpoint).
/// - At start, the job's remote cursor is copied to the local cursor file
///   (unless a value set here is still waiting for the database).
public final class Supervisor {
    public struct Options: Sendable {
        public var lease: Int64
        public var heartbeat: Int64
        /// Seconds between SIGTERM and SIGKILL.
        public var grace: Int64 = 5
        /// Seconds between checks that each run is still ours.
        public var fenceCheck: Double = 2
        /// Environment every job starts with (the octo-specific variables are added per run).
        public var environment: [String: String]
        /// Called with each output line as it arrives (for `octo sh run --here --wait`).
        public var echo: (@Sendable (LogLine, _ fromStderr: Bool) -> Void)?
        /// Where log lines go while the database is unreachable (nil: they wait in memory).
        public var spool: Spool?
        /// This machine's local cursors (nil: none are kept, and none pushed at a run's end).
        public var cursors: CursorFiles?

        public init(settings: Settings, environment: [String: String]) {
            lease = settings.lease
            heartbeat = settings.heartbeat
            self.environment = environment
        }
    }

    /// A run that ended here.
    public struct Finished: Sendable {
        public var claimed: RunQueue.Claimed
        public var outcome: RunQueue.Outcome
        /// False when the run was no longer ours at the end (killed, lost, replaced): nothing was recorded.
        public var recorded: Bool
    }

    private final class Active {
        let claimed: RunQueue.Claimed
        let process: GuardedProcess
        var out = LineSplitter()
        var err = LineSplitter()
        let startedAt = Monotonic.seconds()
        var nextHeartbeat: Double
        var nextFenceCheck: Double
        var lastRenewed: Double
        var deadline: Double?
        var life = RunLifecycle()
        init(_ c: RunQueue.Claimed, _ p: GuardedProcess, heartbeat: Double, fenceCheck: Double) {
            claimed = c
            process = p
            let now = Monotonic.seconds()
            nextHeartbeat = now + heartbeat
            nextFenceCheck = now + fenceCheck
            lastRenewed = c.claimedAt
            deadline = c.job.timeout > 0 ? now + Double(c.job.timeout) : nil
        }
    }

    private let db: Connection
    private let machine: String
    private let options: Options
    private let logs: LogWriter
    private let clock: ServerClock
    private var active: [Active] = []
    private var guardsToReap: [GuardedProcess] = []
    public private(set) var finished: [Finished] = []

    public init(_ db: Connection, machine: String, options: Options) throws {
        self.db = db
        self.machine = machine
        self.options = options
        logs = LogWriter(db, machine: machine, spool: options.spool)
        clock = try ServerClock(db)
        signal(SIGPIPE, SIG_IGN)
        octo_catch_stop_signals()
    }

    /// The stop signal (SIGTERM, SIGINT, SIGHUP) this process got while supervising, or nil.
    public var stopSignal: Int32? {
        let s = octo_stop_signal()
        return s == 0 ? nil : s
    }

    public var runningCount: Int { active.count }

    /// Starts a claimed run. A run that cannot be started is completed as failed.
    public func start(_ c: RunQueue.Claimed) throws {
        let run = c.run
        var env = options.environment
        env["OCTO_JOB"] = run.jobName
        env["OCTO_RUN_ID"] = String(run.id)
        env["OCTO_ATTEMPT"] = String(run.attempt)
        env["OCTO_FIRE_TIME"] = run.fireTime.fireTimeText
        env["OCTO_LOGICAL_DATE"] = run.logicalDate
        env["OCTO_CURSOR"] = run.cursorIn ?? ""
        env["OCTO_RUN_TOKEN"] = c.token
        env["OCTO_CURSOR_EPOCH"] = run.cursorEpoch.map(String.init) ?? ""
        copyCursorAtStart(c)
        log(
            c, .info, .start,
            "start: run \(run.id) of \(run.jobName), attempt \(run.attempt), \(run.trigger.rawValue) fire at \(run.fireTime.fireTimeText)"
        )
        do {
            let p = try GuardedProcess(
                command: CommandTemplate.substitute(c.job.command), environment: env,
                graceMilliseconds: Int(options.grace * 1000), title: "octo guard: run \(run.id) of \(run.jobName)",
                deadline: killDeadline(renewedAt: c.claimedAt))
            active.append(Active(c, p, heartbeat: Double(options.heartbeat), fenceCheck: options.fenceCheck))
        } catch {
            try end(c, RunQueue.Outcome(state: .failed, reason: error.message), elapsed: 0)
        }
    }

    /// Supervises until every started run has ended. `refill` is asked for
    /// more runs whenever it is due (`refillEvery` seconds — `.infinity`: only
    /// when a run ends — and when a run ends); it returns nil when there will
    /// be no more work.
    public func run(refillEvery: Double = 1, refill: (() throws -> [RunQueue.Claimed]?)? = nil) throws {
        var nextRefill = refill == nil ? Double.infinity : 0
        var refillDone = refill == nil
        var interrupted = false
        while true {
            if !interrupted, let s = stopSignal {
                // stopped by an operator (or shutdown): no new work; every job is asked to stop and its end recorded
                interrupted = true
                refillDone = true
                for a in active where !a.life.hasExited {
                    guard let sig = a.life.stop(.interrupted, at: Monotonic.seconds()) else { continue }
                    log(
                        a.claimed, .warn, nil,
                        "octo got \(signalName(Int(s))): SIGTERM to the process group (SIGKILL after \(options.grace)s)"
                    )
                    send(sig, a)
                }
            }
            if !refillDone, Monotonic.seconds() >= nextRefill, let refill {
                do {
                    if let more = try refill() {
                        let before = active.count
                        for c in more { try start(c) }
                        // a run that could not even start: this machine cannot start processes now (no descriptors,
                        // no process slot, no memory); claim nothing more here rather than fail the queue's runs one
                        // after another — the next cron tick tries again
                        if active.count - before < more.count { refillDone = true }
                        nextRefill = Monotonic.seconds() + refillEvery
                    } else {
                        refillDone = true
                    }
                } catch  where !active.isEmpty {
                    // the claim failed (the database restarting, failing over): the running jobs' supervision goes
                    // on, their ends are recorded; look for work again in a second
                    nextRefill = Monotonic.seconds() + 1
                }
            }
            if active.isEmpty && refillDone { break }
            let before = active.count
            try step(until: refillDone ? .infinity : nextRefill)
            // a slot freed: look for work at once when nothing runs any more, else after 2 ms in which more
            // runs may end (one claim for several); a longer wait left the slots idle (scripts/bench queue)
            if active.count < before {
                nextRefill = min(nextRefill, Monotonic.seconds() + (active.isEmpty ? 0 : 0.002))
            }
        }
        try logs.finish()
        for g in guardsToReap { g.reapGuard(wait: true) }
        guardsToReap.removeAll()
    }

    // MARK: - One turn of the loop

    private func step(until wake: Double) throws {
        // guards that were still clearing their jobs' leftovers when the runs ended: reaped as they exit, not
        // only when this process returns (a `consume --wait` would keep one zombie per such run)
        guardsToReap.removeAll { $0.reapGuard(wait: false) }
        var fds: [pollfd] = []
        var owners: [(Active, Int)] = []  // 0 stdout, 1 stderr, 2 status
        for a in active {
            let p = a.process
            for (i, fd) in [p.stdoutFD, p.stderrFD, p.statusFD].enumerated() where fd >= 0 {
                fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
                owners.append((a, i))
            }
        }
        let now = Monotonic.seconds()
        var next = wake
        for a in active {
            next = min(next, a.nextHeartbeat, a.nextFenceCheck)
            if let d = a.deadline, a.life.stop == nil { next = min(next, d) }
            if let k = a.life.killDue(grace: Double(options.grace)) { next = min(next, k) }
            if let e = a.life.exitedAt { next = min(next, e + 5) }
        }
        if let oldest = logs.oldestPendingAt { next = min(next, Double(oldest) / 1_000_000 + 0.2) }
        if let r = logs.secondsUntilRecovery { next = min(next, now + r) }
        let timeout = next == .infinity ? -1 : Int32(max(0, min(60_000, (next - now) * 1000)).rounded(.up))
        let rc = poll(&fds, nfds_t(fds.count), timeout)
        if rc < 0 && errno != EINTR { throw OctoError.failure("poll failed: \(String(cString: strerror(errno)))") }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        for (k, pfd) in fds.enumerated() where pfd.revents != 0 {
            let (a, which) = owners[k]
            if which == 2 {
                takeStatus(a)
                if a.process.killedAtDeadline { leaseKill(a) }
                continue
            }
            let n = buffer.withUnsafeMutableBytes { read(pfd.fd, $0.baseAddress, $0.count) }
            if n > 0 {
                let lines = buffer.withUnsafeBytes { raw in
                    which == 0
                        ? a.out.feed(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
                        : a.err.feed(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
                }
                for l in lines { output(a, l.text, truncated: l.truncated, stderr: which == 1) }
            } else if n == 0 || errno != EINTR {
                let rest = which == 0 ? a.out.finish() : a.err.finish()
                if let r = rest { output(a, r.text, truncated: r.truncated, stderr: which == 1) }
                if which == 0 { a.process.closeStdout() } else { a.process.closeStderr() }
            }
        }
        try timers()
        let due = logs.oldestPendingAt.map { Monotonic.microseconds() - $0 >= 200_000 || logs.pendingCount >= 512 }
        if due == true || logs.secondsUntilRecovery == 0 {
            try? logs.store()  // stored or spooled (or the spool replayed); if even the spool fails the lines wait
        }
        try reapEnded()
    }

    private func timers() throws {
        let now = Monotonic.seconds()
        for a in active where !a.life.hasExited {
            if let d = a.deadline, now >= d, let sig = a.life.stop(.timeout, at: now) {
                log(
                    a.claimed, .error, nil,
                    "timeout after \(Durations.format(a.claimed.job.timeout)): SIGTERM to the process group")
                send(sig, a)
            }
            if let sig = a.life.graceOver(at: now, grace: Double(options.grace)) {
                log(
                    a.claimed, .error, nil,
                    "still running \(options.grace)s after SIGTERM: SIGKILL to the process group")
                send(sig, a)
            }
            if now >= a.nextHeartbeat {
                a.nextHeartbeat = now + Double(options.heartbeat)
                log(a.claimed, .info, .heartbeat, "heartbeat: running for \(formatSeconds(now - a.startedAt))")
                let sent = Monotonic.seconds()
                do {
                    if a.life.isFenced {
                        // cancelled: the lease now holds the job's next run back until the group is gone
                        if try RunQueue.renewStopping(
                            db, runID: a.claimed.run.id, token: a.claimed.token, lease: options.lease)
                        {
                            renewed(a, sentAt: sent)
                        }
                    } else if try RunQueue.renew(
                        db, runID: a.claimed.run.id, token: a.claimed.token, lease: options.lease, pid: a.process.jobPID
                    ) {
                        renewed(a, sentAt: sent)
                    } else {
                        fence(a)
                    }
                } catch {
                    // the database is unreachable: keep the job while the lease holds
                    try? db.reconnect()
                }
            }
            if now >= a.nextFenceCheck {
                a.nextFenceCheck = now + options.fenceCheck
                if let holds = try? RunQueue.holds(db, runID: a.claimed.run.id, token: a.claimed.token), !holds {
                    fence(a)
                }
            }
            // (a kill by the guard at its deadline is taken up where its record is read, in `step`, or here)
            if Monotonic.seconds() >= killDeadline(renewedAt: a.lastRenewed) { leaseKill(a) }
        }
    }

    /// The lease could not be renewed in time: SIGKILL to the group (the guard sends it too, at the same
    /// deadline, if this process was stuck). A fenced (stopping) run keeps its reason: it was cancelled.
    private func leaseKill(_ a: Active) {
        // Woken after a stop outside `poll` (SIGSTOP, a slow statement), this process can reach the deadline here
        // before `step` has read what the guard wrote meanwhile: read it first. A job that ended by itself before
        // the deadline ended as any other (its end is recorded from its status); one the guard killed there, or
        // still running, is killed for the lease, and the message says who sent the signal.
        while a.process.statusPending { takeStatus(a) }
        if a.process.waitStatus != nil && !a.process.killedAtDeadline { return }
        guard let sig = a.life.leaseLapsed() else { return }
        log(
            a.claimed, .error, nil,
            "could not renew the lease for \(formatSeconds(Monotonic.seconds() - a.lastRenewed)): SIGKILL to the process group"
                + (a.process.killedAtDeadline ? " (sent by its guard at the deadline)" : ""))
        send(sig, a)
    }

    /// Reads one record of `a`'s guard (its job started, exited, failed to start, was killed at the deadline).
    private func takeStatus(_ a: Active) {
        let open = a.process.readStatus()
        if !open && a.process.waitStatus == nil {
            // the guard died before the job (killed by hand, the OOM killer): nothing watches the job now, and
            // its run is about to be recorded failed (and maybe retried) — the job must not run on beside a retry
            a.process.killOrphanedGroup()
        }
        if a.process.waitStatus != nil || !open { a.life.exited(at: Monotonic.seconds()) }
    }

    private func send(_ sig: RunLifecycle.Signal, _ a: Active) {
        switch sig {
        case .terminate: a.process.terminate()
        case .kill: a.process.kill()
        }
    }

    /// How long before its lease would lapse a run is killed when it could not be renewed.
    private var killMargin: Double { min(Double(options.heartbeat), Double(options.lease) / 4) }

    /// The guard's kill deadline after a renewal (or the claim) sent at `sent`: the server's lease runs from
    /// later than that, so the group is gone at least `killMargin` before the lease can lapse.
    private func killDeadline(renewedAt sent: Double) -> Double { sent + Double(options.lease) - killMargin }

    /// A renewal sent at `sent` succeeded: the lease runs until at least then + lease, and so does the guard's deadline.
    private func renewed(_ a: Active, sentAt sent: Double) {
        a.lastRenewed = sent
        a.process.setDeadline(killDeadline(renewedAt: sent))
    }

    private func fence(_ a: Active) {
        guard let sig = a.life.stop(.fenced, at: Monotonic.seconds()) else { return }
        log(
            a.claimed, .warn, nil,
            "run \(a.claimed.run.id) is no longer this machine's (killed, lost or replaced): SIGTERM to the process group"
        )
        send(sig, a)
    }

    private func reapEnded() throws {
        let now = Monotonic.seconds()
        var still: [Active] = []
        var ended: [(Active, Ending)] = []
        for a in active {
            let p = a.process
            let outputsClosed = p.stdoutFD < 0 && p.stderrFD < 0
            guard let exited = a.life.exitedAt, outputsClosed || now >= exited + 5 else {
                still.append(a)
                continue
            }
            // leftovers may still hold the pipes: the guard is clearing them; stop reading
            if let r = a.out.finish() { output(a, r.text, truncated: r.truncated, stderr: false) }
            if let r = a.err.finish() { output(a, r.text, truncated: r.truncated, stderr: true) }
            p.closeStdout()
            p.closeStderr()
            ended.append(
                (
                    a,
                    Ending(
                        claimed: a.claimed, outcome: outcome(of: a), elapsed: now - a.startedAt,
                        fenced: a.life.isFenced)
                ))
        }
        active = still
        guard !ended.isEmpty else { return }
        defer {
            for (a, _) in ended {
                a.process.closeAll()
                if !a.process.reapGuard(wait: false) { guardsToReap.append(a.process) }
            }
        }
        try end(ended.map(\.1))
    }

    private func outcome(of a: Active) -> RunQueue.Outcome {
        let p = a.process
        let code = p.waitStatus.flatMap(WaitStatus.exitCode)
        let sig = p.waitStatus.flatMap(WaitStatus.signal)
        if let e = p.execError {
            return .init(state: .failed, exitCode: code, reason: "cannot run /bin/sh: \(String(cString: strerror(e)))")
        }
        if p.waitStatus == nil && a.life.stop == nil {
            // the guard closed its status pipe without the job's exit status: it was killed (by hand)
            return .init(
                state: .failed,
                reason:
                    "its guard process died (was it killed?): the job's exit status is unknown; its process group was killed"
            )
        }
        switch a.life.stop {
        case .timeout:
            return .init(
                state: .timeout, exitCode: code, signal: sig,
                reason: "timed out after \(Durations.format(a.claimed.job.timeout))")
        case .leaseLost:
            return .init(state: .lost, exitCode: code, signal: sig, reason: "killed: the lease could not be renewed")
        case .fenced:
            return .init(
                state: .cancelled, exitCode: code, signal: sig, reason: "stopped: no longer this machine's run")
        case .interrupted:
            return .init(
                state: .failed, exitCode: code, signal: sig,
                reason:
                    "interrupted: octo got \(stopSignal.map { signalName(Int($0)) } ?? "a stop signal") and stopped the job"
            )
        case nil:
            if let sig { return .init(state: .failed, signal: sig, reason: "killed by \(signalName(sig))") }
            let c = code ?? -1
            if a.claimed.job.accepts(exitCode: c) { return .init(state: .succeeded, exitCode: c) }
            return .init(
                state: .failed, exitCode: c,
                reason:
                    "exit code \(c) is not accepted (ok_codes \(a.claimed.job.okCodes.map(String.init).joined(separator: ",")))"
            )
        }
    }

    /// A run that ended, on its way to being recorded.
    private struct Ending {
        var claimed: RunQueue.Claimed
        var outcome: RunQueue.Outcome
        var elapsed: Double
        /// No longer this machine's run: its lines are stored, its end is not recorded.
        var fenced = false
    }

    private func end(_ c: RunQueue.Claimed, _ o: RunQueue.Outcome, elapsed: Double) throws {
        try end([Ending(claimed: c, outcome: o, elapsed: elapsed)])
    }

    /// Records the runs that ended in this turn, with every pending line and
    /// each run's last cursor value, in one commit (a replayed line is stored
    /// once: stream, seq).
    private func end(_ endings: [Ending]) throws {
        for e in endings {
            let o = e.outcome
            var what =
                o.exitCode.map { "exit \($0)" } ?? o.signal.map { "signal \($0) (\(signalName($0)))" }
                ?? "no exit status"
            if o.exitCode != nil, let s = o.signal { what += ", signal \(s)" }
            let level: LogLevel = o.state == .succeeded ? .info : .error
            log(
                e.claimed, level, .end,
                "end: \(o.state.rawValue), \(what) after \(formatSeconds(e.elapsed))"
                    + (o.reason.isEmpty ? "" : " — \(o.reason)"))
        }
        let lastCursors = endings.map { $0.fenced ? nil : cursorSetBy($0.claimed) }
        var recorded = [Bool](repeating: false, count: endings.count)
        var cursorOutcomes = [CursorStore.Outcome?](repeating: nil, count: endings.count)
        logs.prepareForTransaction()
        do {
            try db.retrying(.completion) { db in
                try db.transaction {
                    try logs.write()
                    for e in endings where e.fenced {
                        // stopped: the job's next run may start (nothing else of a cancelled run is recorded)
                        _ = try RunQueue.recordStopped(db, e.claimed, e.outcome)
                    }
                    for (i, e) in endings.enumerated() where !e.fenced {
                        let lastCursor = lastCursors[i]
                        cursorOutcomes[i] = nil
                        if let lastCursor, lastCursor.state == .pending {
                            cursorOutcomes[i] = try CursorStore.offer(db, lastCursor, check: .holder, via: "end")
                        }
                        recorded[i] = try RunQueue.recordEnd(
                            db, e.claimed, e.outcome,
                            cursorOut: lastCursor.flatMap { $0.state == .refused ? nil : $0.value }, count: false)
                        if !recorded[i] {
                            // cancelled (`sh kill`) as it ended by itself, before this process saw the kill: its
                            // group is gone all the same, and the job's next run must not wait for the lease
                            _ = try RunQueue.recordStopped(db, e.claimed, e.outcome)
                        }
                    }
                    try RunQueue.ended(db, endings.indices.filter { recorded[$0] }.map { endings[$0].claimed.run.id })
                }
            }
            logs.written()
        } catch {
            // the ends could not be recorded (the leases will lapse: lost); the lines are kept
            try? logs.spoolPending()
            throw error
        }
        for (i, e) in endings.enumerated() {
            if let lastCursor = lastCursors[i], let outcome = cursorOutcomes[i], recorded[i] {
                noteCursorPushed(e.claimed, lastCursor, outcome)
            }
            finished.append(Finished(claimed: e.claimed, outcome: e.outcome, recorded: recorded[i]))
        }
    }

    // MARK: - Cursors

    /// Copies the job's remote cursor to the local file as the run starts
    /// (a value set here and not yet stored stays: `cursor sync` pushes it).
    private func copyCursorAtStart(_ c: RunQueue.Claimed) {
        guard let files = options.cursors, c.run.cursorIn != nil, !c.run.cursorGiven else { return }
        do {
            guard let remote = try CursorStore.get(db, job: c.run.jobName) else { return }
            try files.update(c.run.jobName) { (entry: inout LocalCursor?) in
                if let e = entry, e.state == .pending || e.version >= remote.version { return }
                entry = LocalCursor(
                    job: c.run.jobName, value: remote.value, version: remote.version, runID: nil, token: "",
                    machine: machine, setAt: clock.now(), state: .synced)
            }
        } catch {
            log(c, .warn, nil, "could not copy the cursor to \(files.path(c.run.jobName)): \(error)")
        }
    }

    /// The last value this run set, from the local file (nil if it set none).
    private func cursorSetBy(_ c: RunQueue.Claimed) -> LocalCursor? {
        guard let files = options.cursors, let epoch = c.run.cursorEpoch else { return nil }
        do {
            guard let e = try files.read(c.run.jobName), e.runID == c.run.id,
                CursorVersion.epoch(of: e.version) == epoch
            else { return nil }
            return e
        } catch {
            log(c, .warn, nil, "could not read the local cursor: \(error)")
            return nil
        }
    }

    /// After the end was recorded: the local file says what became of the run's last value.
    private func noteCursorPushed(_ c: RunQueue.Claimed, _ value: LocalCursor, _ outcome: CursorStore.Outcome) {
        guard let files = options.cursors else { return }
        let refusal = outcome.refusal
        _ = try? files.update(c.run.jobName, durable: false) { (entry: inout LocalCursor?) in
            guard var e = entry, e.version == value.version, e.runID == value.runID, e.state == .pending else { return }
            e.state = refusal == nil ? .synced : .refused
            e.note = refusal ?? ""
            entry = e
        }
        if let refusal {
            // the run's lines are stored already: this one goes with the next store
            log(c, .warn, nil, "cursor version \(CursorVersion.text(value.version)) not stored: \(refusal)")
        }
    }

    private func output(_ a: Active, _ text: String, truncated: Bool, stderr: Bool) {
        var line = LogLine(
            loggedAt: clock.now(), jobName: a.claimed.run.jobName, runID: a.claimed.run.id,
            level: stderr ? .warn : .info, content: text)
        line.truncated = truncated
        logs.append(line)
        options.echo?(line, stderr)
    }

    private func log(_ c: RunQueue.Claimed, _ level: LogLevel, _ code: LogCode?, _ text: String) {
        logs.append(
            LogLine(
                loggedAt: clock.now(), jobName: c.run.jobName, runID: c.run.id, level: level, code: code, content: text)
        )
    }
}

func formatSeconds(_ s: Double) -> String {
    s < 10 ? String(Double(Int(s * 1000)) / 1000) + "s" : String(Int(s.rounded())) + "s"
}

extension RetryPolicy {
    /// For a run's last writes: rides out a database outage of about half a minute.
    static let completion = RetryPolicy(attempts: 12, baseDelay: .milliseconds(100), maxDelay: .seconds(5))
}
