import ArgumentParser
import MariaDB
import OctoCore

#if canImport(Glibc)
    import Glibc
#endif

struct CursorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cursor",
        abstract: "A job's progress marker (a time, an offset, an id) that its next run starts from.",
        discussion: """
            Inside a run, `octo cursor set VALUE` records the run's progress: the local cursor file \
            first, then the database, fenced by the run's lease. The next run gets the last value as \
            OCTO_CURSOR and {cursor}. Values: UTF-8 text of at most 1024 bytes.
            """,
        subcommands: [CursorGet.self, CursorSet.self, CursorSyncCommand.self, CursorHistory.self]
    )
}

struct CursorGet: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print a job's cursor value alone (nothing if it has none), for scripts.")
    @Argument(help: "The job.") var job: String
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let db = try context.database()
        let remote = try CursorStore.get(db, job: job)
        if remote == nil { _ = try JobStore.require(db, job) }
        if global.json {
            try Output.json(
                remote.map { r in
                    JSON.object([
                        "job": .string(job), "value": .string(r.value), "version": .int(r.version),
                        "version_text": .string(CursorVersion.text(r.version)),
                        "updated_at": .string(r.updatedAt.iso8601),
                        "updated_run": r.updatedRun.map(JSON.int) ?? .null, "updated_by": .string(r.updatedBy)
                    ])
                } ?? JSON.null)
        } else if let r = remote {
            Output.line(r.value)
        }
    }
}

struct CursorSet: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract:
            "Set a job's cursor: inside a run, the running job's (fenced by its lease); outside, the named job's.",
        discussion: """
            Inside a run (OCTO_RUN_ID in the environment) the value goes to this machine's local cursor file, \
            then to the database; if the database cannot be reached it waits in the file (exit 0, with a \
            warning) and `octo cursor sync` or the run's end stores it. A run that has lost its lease is \
            refused (exit 1) and its supervisor stops it. Outside a run, name the job; while it is running, \
            add --force (the running run's later values are then refused as older).
            """)
    @Argument(
        help: ArgumentHelp(
            "[JOB] VALUE: the job (optional inside its own run), then the value.", valueName: "job-and-value"))
    var words: [String] = []
    @Flag(help: "Set it even while the job is running.") var force = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard (1...2).contains(words.count) else {
            throw ValidationError(
                words.isEmpty
                    ? "missing the cursor value: octo cursor set [JOB] VALUE"
                    : "too many arguments: octo cursor set [JOB] VALUE (quote a value with spaces)")
        }
        try CursorSet.checkValue(words.last!)
        if words.count == 2 {
            do { try Names.check("job name", words[0]) } catch { throw ValidationError(error.message) }
        }
    }

    func run(_ context: Context) throws {
        let env = context.environment
        let value = words.last!
        let runningJob = env["OCTO_RUN_ID"] != nil ? env["OCTO_JOB"] : nil
        if words.count == 2, words[0] != runningJob {
            return try setByHand(context, job: words[0], value: value)
        }
        guard let job = runningJob else {
            throw ValidationError("outside a run, name the job: octo cursor set JOB VALUE")
        }
        try Names.check("OCTO_JOB", job)
        guard let runID = env["OCTO_RUN_ID"].flatMap({ Int64($0) }), let token = env["OCTO_RUN_TOKEN"], !token.isEmpty,
            let epoch = env["OCTO_CURSOR_EPOCH"].flatMap({ Int64($0) })
        else {
            throw OctoError.failure(
                "this run's environment lacks OCTO_RUN_ID, OCTO_RUN_TOKEN or OCTO_CURSOR_EPOCH (was it started by octo consume?)"
            )
        }
        let files = CursorFiles(stateDirectory: context.config.stateDirectory)
        let who = OctoCore.CursorSync.RunIdentity(
            job: job, runID: runID, token: token, epoch: epoch, machine: context.config.machine)
        let result = try OctoCore.CursorSync.setInRun(files, who, value: value, at: Instant.now()) {
            try context.database()
        }
        switch result {
        case .stored(let c):
            if global.verbose { Output.line("cursor of \(job) stored, version \(CursorVersion.text(c.version))") }
        case .keptLocally(let c, let reason):
            Output.warning(
                "the database cannot be reached (\(reason)); cursor version \(CursorVersion.text(c.version)) "
                    + "is kept in \(files.path(job)) and stored by `octo cursor sync` or at the run's end")
        case .refused(let reason):
            throw OctoError.failure("cursor of \(job) not set: \(reason)")
        }
    }

    private func setByHand(_ context: Context, job: String, value: String) throws {
        let db = try context.database()
        _ = try JobStore.require(db, job)
        let (outcome, version) = try CursorStore.setByHand(db, job: job, value: value, by: context.actor, force: force)
        if let why = outcome.refusal { throw OctoError.failure("cursor of \(job) not set: \(why)") }
        if global.verbose { Output.line("cursor of \(job) set, version \(CursorVersion.text(version))") }
    }

    /// Checks a cursor value from the command line (also `octo sh run --cursor`).
    static func checkValue(_ value: String) throws {
        if let bad = invalidUTF8Argument() {
            throw ValidationError(
                "invalid cursor '\(bad.quotedForMessage)': expected UTF-8 text (the bytes are not valid UTF-8)")
        }
        do { try CursorValue.check(value) } catch { throw ValidationError(error.message) }
    }

    /// The first raw argument that is not valid UTF-8 (Swift would have
    /// replaced its bad bytes silently), shown with the replacements.
    private static func invalidUTF8Argument() -> String? {
        for i in 1..<Int(CommandLine.argc) {
            guard let p = CommandLine.unsafeArgv[i] else { continue }
            let bytes = UnsafeBufferPointer(start: p, count: strlen(p)).map { UInt8(bitPattern: $0) }
            if String(validating: bytes, as: UTF8.self) == nil { return String(decoding: bytes, as: UTF8.self) }
        }
        return nil
    }
}

struct CursorSyncCommand: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync", abstract: "Store the local cursors the database has not seen (set during an outage).",
        discussion: """
            Run from cron every few minutes (consume does it too before claiming). A value is stored only if \
            it is newer than the database's and was set while its run held its lease; any other is refused, \
            reported, marked refused in its file and never offered again. Exit 0 when every pending value \
            was stored or refused, 1 when the database cannot be reached.
            """)
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let db = try context.database()
        let report = try context.syncCursors(db, quiet: global.json)
        if global.json {
            var rows: [JSON] = report.stored.map { c in
                JSON.object([
                    "job": .string(c.job), "result": .string("stored"), "version": .int(c.version),
                    "run": c.runID.map(JSON.int) ?? .null, "reason": .null
                ])
            }
            rows += report.refused.map { (c, why) in
                JSON.object([
                    "job": .string(c.job), "result": .string("refused"), "version": .int(c.version),
                    "run": c.runID.map(JSON.int) ?? .null, "reason": .string(why)
                ])
            }
            try Output.json(JSON.array(rows))
        } else if !global.quiet {
            for c in report.stored {
                Output.line(
                    "stored cursor of \(c.job): version \(CursorVersion.text(c.version)) from run \(c.runID.map(String.init) ?? "-")"
                )
            }
        }
    }
}

struct CursorHistory: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "The values a job's cursor took, newest first: time, version, run, machine, how it arrived, value.")
    @Argument(help: "The job.") var job: String
    @Option(name: .short, parsing: .unconditional, help: "How many values.") var n: Int = 20
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try checkCount(n)
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        let settings = try context.settings()
        let entries = try CursorStore.history(db, job: job, limit: n)
        // a removed job's cursor history is still shown (in the default zone)
        let known = try JobStore.get(db, job)
        if entries.isEmpty && known == nil { _ = try JobStore.require(db, job) }
        let zone = try known?.zone(default: settings.defaultTimezone) ?? Zone.named(settings.defaultTimezone)
        if global.json {
            try Output.json(
                JSON.array(
                    entries.map { e in
                        .object([
                            "value": .string(e.value), "version": .int(e.version),
                            "version_text": .string(CursorVersion.text(e.version)),
                            "run": e.runID.map(JSON.int) ?? .null, "machine": .string(e.machine), "via": .string(e.via),
                            "stored_at": .string(e.storedAt.iso8601)
                        ])
                    }))
            return
        }
        if entries.isEmpty {
            Output.line("no cursor values yet")
            return
        }
        var t = Table(["stored", "version", "run", "machine", "via", "value"])
        for e in entries {
            t.add([
                zone.format(e.storedAt), CursorVersion.text(e.version), e.runID.map(String.init) ?? "-", e.machine,
                e.via,
                e.value.quotedForMessage(limit: 80)
            ])
        }
        Output.line(t.render())
    }
}

extension Context {
    /// This machine's local cursors.
    var cursorFiles: CursorFiles { CursorFiles(stateDirectory: config.stateDirectory) }

    /// Pushes pending local cursors; refusals and damaged files become
    /// warnings (unless `quiet`). Throws only when the database fails.
    @discardableResult
    func syncCursors(_ db: Connection, quiet: Bool = false) throws -> OctoCore.CursorSync.Report {
        let report = try OctoCore.CursorSync.sync(db, cursorFiles)
        if !quiet {
            for (c, why) in report.refused {
                Output.warning(
                    "cursor of \(c.job), version \(CursorVersion.text(c.version)) from run \(c.runID.map(String.init) ?? "-"), refused: \(why)"
                )
            }
            for (path, why) in report.damaged { Output.warning("\(path): \(why)") }
        }
        return report
    }
}
