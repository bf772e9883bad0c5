import ArgumentParser
import CGuard
import MariaDB
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

struct LoggerCommand: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "logger",
        abstract: "Store each line of stdin (or of a command's output) as a log row.",
        discussion: """
            Lines in the Octopus format `<time> <name> <level> <content>` (e.g. \
            `2013/07/04:16:41:00 app_name error Process has exited!`, or an ISO 8601 time) are parsed; \
            other lines get the name and level given here and the time they were read. \
            With `-- CMD ARGS…` octo runs the command, logs its stdout and stderr (stderr at least warn) \
            with 100 start, 110 heartbeat and 120 end lines, and exits with the command's exit code \
            (128 + signal when it was killed). When the database is unreachable, lines go to the \
            local spool ($OCTO_STATE_DIR/spool) and are replayed, exactly once, by the next \
            octo logger, consume or monitor. Lines longer than 64 KiB are cut and marked as cut; \
            invalid UTF-8 and NUL bytes are replaced.
            """
    )
    @Option(
        name: .short,
        help: ArgumentHelp(
            "Name for lines that carry none (default: $OCTO_JOB inside a run, the command's name with --, else 'logger').",
            valueName: "name"))
    var name: String?
    @Option(
        name: .short,
        help: ArgumentHelp(
            "Level for lines that carry none: fatal, error, warn, info, debug, trace.", valueName: "level"))
    var level: String = "info"
    @Option(help: ArgumentHelp("Attach the lines to this run (default: $OCTO_RUN_ID inside a run).", valueName: "id"))
    var run: String?
    @Flag(help: "Also copy the input unchanged to stdout (with --: the command's stdout and stderr to octo's).")
    var tee = false
    @Argument(parsing: .postTerminator, help: ArgumentHelp("A command to run and log.", valueName: "command"))
    var command: [String] = []
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let name, !Names.isValidName(name) {
            throw ValidationError("invalid name '\(name.quotedForMessage)': expected \(Names.nameRule)")
        }
        if LogFormat.level(word: level) == nil || LogFormat.level(word: level)?.1 != nil {
            throw ValidationError(
                "invalid level '\(level.quotedForMessage)': expected one of fatal, error, warn, info, debug, trace")
        }
        if let run, Int64(run).map({ $0 < 1 }) ?? true {
            throw ValidationError(
                "invalid run '\(run.quotedForMessage)': expected a run id (a whole number of at least 1)")
        }
    }

    /// `OCTO_RUN_ID` when it is a run id; anything else (a script's stray value) is left out of the lines, with
    /// a warning — a run id the database refuses would keep them from being stored at all.
    func environmentRunID(_ env: [String: String]) -> Int64? {
        guard let text = env["OCTO_RUN_ID"], !text.isEmpty else { return nil }
        if let id = Int64(text), id >= 1 { return id }
        Output.warning("OCTO_RUN_ID '\(text.quotedForMessage)' is not a run id: the lines are stored without one")
        return nil
    }

    func run(_ context: Context) throws {
        let env = context.environment
        let defaults = LogPipeline.Defaults(
            name: name ?? defaultName(env),
            level: LogFormat.level(word: level)!.0,
            runID: run.flatMap { Int64($0) } ?? environmentRunID(env))
        var db: Connection?
        var problem: String?
        do { db = try context.database() } catch { problem = "\(error)" }
        if let db { context.replaySpool(db) }
        let spool = context.spool
        let writer = LogWriter(db, machine: context.config.machine, spool: spool) { try context.database() }
        let pipeline = makePipeline(db, writer, defaults, env)
        octo_catch_stop_signals()
        signal(SIGPIPE, SIG_IGN)
        var status: Int32 = 0
        do {
            if command.isEmpty {
                if case .signal(let s) = try StreamLogger.run(
                    input: 0, tee: tee ? 1 : nil, pipeline: pipeline, stopSignal: { octo_stop_signal() })
                {
                    status = 128 + s
                }
            } else {
                let heartbeat =
                    db == nil ? Settings().heartbeat : (try? context.settings().heartbeat) ?? Settings().heartbeat
                var jobEnv = Context.withoutSecrets(env)
                jobEnv["OCTO_MACHINE"] = context.config.machine
                let ended = try CommandLogger.run(
                    command, environment: jobEnv, pipeline: pipeline, heartbeat: Double(heartbeat),
                    tee: tee, stopSignal: { octo_stop_signal() })
                status = ended.status
            }
        } catch let f as CommandLogger.Failure where !f.started {
            // as a shell says of a command it cannot run; nothing was logged, as nothing ran
            Output.error("cannot start \(command[0]): \(f.underlying)")
            throw ExitCode(127)
        } catch {
            // neither the database nor the spool took the last lines: print them rather than lose them
            Output.error("could not store or spool log lines (\(error)); they follow on stderr")
            for l in pipeline.takeUnstored() { Output.writeStderr(Output.safe(l.content) + "\n") }
            // the command's own failure, else 1: lines were not kept (as below); never 0
            let ended = (error as? CommandLogger.Failure)?.ended?.status ?? 0
            throw ExitCode(ended != 0 ? ended : 1)
        }
        reportWhereLinesWent(pipeline, writer, spool, connected: db != nil, problem: problem)
        Output.flush()
        if status != 0 { throw ExitCode(status) }
        if pipeline.unkeptCount > 0 { throw ExitCode(1) }
    }

    /// The pipeline from input to the writer. What neither the database nor
    /// the spool takes (a full disk during an outage) is printed, never
    /// dropped; reading goes on to the end, so the program writing to us is
    /// not killed by SIGPIPE.
    private func makePipeline(
        _ db: Connection?, _ writer: LogWriter, _ defaults: LogPipeline.Defaults, _ env: [String: String]
    ) -> LogPipeline {
        let clock = db.flatMap { try? ServerClock($0) } ?? ServerClock(local: ())
        let zone = (try? Zone.named(Zone.localName(environment: env))) ?? Zone.utc
        let pipeline = LogPipeline(writer: writer, defaults: defaults, format: LogFormat(zone: zone), clock: clock)
        var spillNoted = false
        pipeline.spill = { line, reason in
            if !spillNoted {
                spillNoted = true
                Output.error("could not store or spool log lines (\(reason)); each follows on stderr")
            }
            Output.writeStderr(Output.safe(line.content) + "\n")
        }
        return pipeline
    }

    /// Says on stderr which lines were not stored in the database: spooled, or neither (printed above).
    private func reportWhereLinesWent(
        _ pipeline: LogPipeline, _ writer: LogWriter, _ spool: Spool, connected: Bool, problem: String?
    ) {
        if pipeline.unkeptCount > 0 {
            Output.error(
                "\(pipeline.unkeptCount) of \(pipeline.lineCount) log lines were neither stored nor spooled; they are on stderr above"
            )
        }
        if writer.spooledLines > 0 || (!connected && pipeline.lineCount > 0) {
            let why = writer.lastProblem ?? problem ?? "the database failed"
            if writer.isSpooling || !spool.files().isEmpty {
                Output.warning(
                    "\(writer.spooledLines) log lines went to the spool \(spool.directory) (\(why)); the next octo logger, consume or monitor replays them"
                )
            }
        }
    }

    /// `$OCTO_JOB` inside a run; the command's base name; else `logger`.
    func defaultName(_ env: [String: String]) -> String {
        if let j = env["OCTO_JOB"], Names.isValidName(j) { return j }
        if let c = command.first {
            let base = String(c.split(separator: "/").last ?? "")
            let cleaned = String(base.unicodeScalars.filter { $0.isASCII && Names.isValidName(String($0)) }.prefix(64))
            if !cleaned.isEmpty { return cleaned }
        }
        return "logger"
    }
}
