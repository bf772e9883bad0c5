import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

struct ShRun: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a job now: ignores its schedule and pause, respects its concurrency unless --force.",
        discussion: """
            Without --here the run is queued for the fleet (`octo consume` on an eligible machine takes it). \
            --here runs it on this machine at once; --wait streams its output and exits with its exit code \
            (128+N when killed by signal N, 1 when it timed out, was lost or cancelled).
            """)
    @Argument(help: "The job to run.") var name: String
    @Option(help: ArgumentHelp("Cursor value for this run instead of the job's cursor.", valueName: "value"))
    var cursor: String?
    @Option(help: ArgumentHelp("Run it on this machine (queued for that machine's consume).", valueName: "machine"))
    var on: String?
    @Flag(help: "Ignore the job's concurrency policy.") var force = false
    @Flag(help: "Wait for the run, stream its output, exit with its exit code.") var wait = false
    @Flag(help: "Run it here, now, under this process's supervision.") var here = false
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("A new attempt for this fire time of the job's schedule.", valueName: "time"))
    var fire: String?
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("A new attempt for every fire on this date (YYYY-MM-DD, the job's zone).", valueName: "date")
    )
    var date: String?
    @Flag(help: "Also rerun every job below it (transitively) for the same fires, after the new runs they need.")
    var downstream = false
    @Flag(help: "Rerun the jobs it needs (transitively) first, for the fires it needs of them.") var upstream = false
    @Flag(help: "Queue it at once, whether or not its needs are met.") var ignoreNeeds = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if here && on != nil { throw ValidationError("--here and --on exclude each other") }
        if fire != nil && date != nil { throw ValidationError("--fire and --date exclude each other") }
        if (here || wait) && (date != nil || downstream || upstream) {
            throw ValidationError("--here and --wait follow one run: not with --date, --downstream or --upstream")
        }
        if let on, !Names.isValidName(on) {
            throw ValidationError("invalid machine '\(on.quotedForMessage)': expected \(Names.nameRule)")
        }
        if let cursor {
            do { try CursorValue.checkArgument(cursor) } catch { throw ValidationError(error.message) }
        }
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        let job = try JobStore.require(db, name)
        let me = context.config.machine
        if let on {
            guard let m = try MachineStore.get(db, on) else {
                throw OctoError.usage("no machine named '\(on)' (see octo sh machines)")
            }
            if let why = Routing.refusal(job: job, machine: on, groups: m.groups, user: m.unixUser) {
                throw OctoError.usage("cannot run it on \(on): \(why)")
            }
        }
        if here {
            let mine = try MachineStore.get(db, me)
            if let why = Routing.refusal(job: job, machine: me, groups: mine?.groups ?? [], user: currentUserName()) {
                throw OctoError.usage("cannot run it here: \(why)")
            }
        }
        var request = RunQueue.RunRequest()
        // every check before the first write (the registration below): bad input leaves the database as it was
        if fire != nil || date != nil {
            let graph = try NeedsStore.graph(db, defaultZone: settings.defaultTimezone)
            let zone = try job.zone(default: settings.defaultTimezone)
            let fires = try graph.fires(of: job, fire: try fire.map { try TimeText.parse($0, zone: zone) }, date: date)
            guard !fires.isEmpty else {
                throw OctoError.usage("job '\(job.name)' has no fires on \(date ?? "")")
            }
            request.fires = fires
        } else if downstream,
            try NeedsStore.graph(db, defaultZone: settings.defaultTimezone).timing(of: job)?.schedule.isManual == false
        {
            // a manual run of a scheduled job is for the instant it is made, which no job below has a fire for
            throw OctoError.usage(
                "octo sh run \(job.name) --downstream: name the period with --fire T or --date D "
                    + "(the jobs below run for the fires of \(job.name), not for now)")
        }
        if here, try MachineStore.get(db, me) == nil {
            _ = try db.retrying { db in
                try MachineStore.register(
                    db, name: me, .init(), user: currentUserName(),
                    path: context.environment["PATH"] ?? "/usr/bin:/bin", by: context.actor)
            }
        }
        request.downstream = downstream
        request.upstream = upstream
        request.ignoreNeeds = ignoreNeeds
        request.cursor = cursor
        request.machine = here ? me : on
        request.force = force
        let recorded = try RunQueue.runNow(db, job: job, settings: settings, request, by: context.actor)
        let ids = recorded.ids
        guard let id = ids.first else { throw OctoError.failure("the run was not queued") }
        if global.json && !wait && !here {
            try Output.json(
                JSON.object([
                    "runs": .array(ids.map(JSON.int)), "job": .string(job.name),
                    "recorded": .array(
                        recorded.all.map {
                            .object([
                                "job": .string($0.job), "fire_time": .string($0.fireTime.fireTimeText),
                                "run": .int($0.id)
                            ])
                        })
                ]))
            return
        }
        if !global.quiet && !wait {
            let others = recorded.all.filter { $0.job != job.name }
            Output.line(
                "recorded run\(ids.count > 1 ? "s" : "") \(ids.map(String.init).joined(separator: ", ")) of \(job.name)"
                    + (others.isEmpty
                        ? ""
                        : " and \(others.count) more: "
                            + others.map { "\($0.job) \($0.id)" }.joined(separator: ", ")))
        }
        if here { return try runHere(context, db, settings, id) }
        if wait { return try follow(db, id) }
    }

    /// Claims the run (waiting for its turn if the job's concurrency says so) and supervises it.
    private func runHere(_ context: Context, _ db: Connection, _ settings: Settings, _ id: Int64) throws {
        var options = context.supervisorOptions(settings)
        if wait {
            // a person's terminal gets control characters made visible; a pipe or a file gets the exact output
            let (outTTY, errTTY) = (isatty(1) == 1, isatty(2) == 1)
            options.echo = { line, fromStderr in
                if fromStderr {
                    Output.writeStderr((errTTY ? line.content.escapedForTerminal : line.content) + "\n")
                } else {
                    print(outTTY ? line.content.escapedForTerminal : line.content)
                }
            }
        }
        let supervisor = try Supervisor(db, machine: context.config.machine, options: options)
        var claimed = false
        try supervisor.run(refillEvery: 0.5) { () throws -> [RunQueue.Claimed]? in
            if claimed { return nil }
            let batch = RunQueue.ClaimBatch()
            let c = try db.retrying { db in
                try RunQueue.claim(
                    db, machine: context.config.machine, limit: 1, lease: settings.lease, onlyRun: id, batch: batch)
            }
            if !c.isEmpty {
                claimed = true
                return c
            }
            guard let r = try RunQueue.get(db, id), r.state == .queued || r.state == .waiting else { return nil }
            return []
        }
        Output.flush()
        guard let f = supervisor.finished.first else {
            let r = try RunQueue.get(db, id)
            throw OctoError.failure(
                "run \(id) was not run here: it is \(r?.state.rawValue ?? "gone")"
                    + (r.map { $0.reason.isEmpty ? "" : " (\($0.reason))" } ?? ""))
        }
        if !global.quiet && !wait {
            Output.line(
                "run \(id): \(f.outcome.state.rawValue)" + (f.outcome.reason.isEmpty ? "" : " — \(f.outcome.reason)"))
        }
        try exit(f.outcome.state, code: f.outcome.exitCode, signal: f.outcome.signal)
    }

    /// Streams the run's log until it ends, then exits with its exit code.
    private func follow(_ db: Connection, _ id: Int64) throws {
        var last: Int64 = 0
        let (outTTY, errTTY) = (isatty(1) == 1, isatty(2) == 1)
        func shown(_ s: String, tty: Bool) -> String { tty ? s.escapedForTerminal : s }
        while true {
            let run = try db.retrying { db in try RunQueue.get(db, id) }
            for line in try LogQuery.lines(db, runID: id, after: last) {
                last = line.id
                if line.code == nil {
                    print(shown(line.content, tty: outTTY))
                } else if global.verbose {
                    Output.writeStderr(shown(line.content, tty: errTTY) + "\n")
                }
            }
            Output.flush()
            guard let run else { throw OctoError.failure("run \(id) disappeared") }
            if run.state.isFinished {
                // lines written just before the end are already stored: completion follows the last flush
                for line in try LogQuery.lines(db, runID: id, after: last) where line.code == nil {
                    print(shown(line.content, tty: outTTY))
                }
                Output.flush()
                if run.state != .succeeded && !global.quiet {
                    Output.error("run \(id) \(run.state.rawValue)" + (run.reason.isEmpty ? "" : ": \(run.reason)"))
                }
                try exit(run.state, code: run.exitCode, signal: run.exitSignal)
                return
            }
            usleep(200_000)
        }
    }

    private func exit(_ state: Run.State, code: Int?, signal: Int?) throws {
        if wait {
            if let code {
                if code != 0 { throw ExitCode(Int32(code)) }
                // a job that exited 0 after its timeout's SIGTERM (or an interruption) did not succeed
                if state != .succeeded { throw ExitCode(1) }
                return
            }
            if let signal { throw ExitCode(Int32(128 + signal)) }
            if state != .succeeded { throw ExitCode(1) }
        } else if state != .succeeded {
            throw ExitCode(1)
        }
    }
}
