import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

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
        do { try CursorValue.checkArgument(words.last!) } catch { throw ValidationError(error.message) }
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
        let who = CursorSync.RunIdentity(
            job: job, runID: runID, token: token, epoch: epoch, machine: context.config.machine)
        let result = try CursorSync.setInRun(files, who, value: value, at: Instant.now()) {
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
}
