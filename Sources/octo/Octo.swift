import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

@main
struct Octo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "octo",
        abstract: "A fleet's crontabs as one managed, observable job system, coordinated through MariaDB.",
        discussion: """
            Every worker runs the same short crontab (see crontab.example); jobs, runs, \
            cursors, logs and alerts live in MariaDB.
            Exit codes: 0 done, 1 operational failure, 2 bad usage or invalid input.
            """,
        version: OctoVersion.string,
        subcommands: [
            InitCommand.self, DoctorCommand.self, RegisterCommand.self, ProduceCommand.self, ConsumeCommand.self,
            LoggerCommand.self, MonitorCommand.self,
            CursorCommand.self, Sh.self, WebCommand.self
        ]
    )

    /// Like `ParsableCommand.main()`, but with octo's exit codes: 2 for bad
    /// usage (argument-parser's default is 64) and a one-line message.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let e as OctoError {
            fail(e.message, code: e.exitCode)
        } catch let e as MariaDBError {
            fail(e.description, code: 1)
        } catch let e as RowDecodingError {
            fail("unexpected data in the database: \(e)", code: 1)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }  // --help, --version
            if code == .validationFailure { fail(oneLine(message(for: error)).escapedForTerminal, code: 2) }
            exit(withError: error)
        }
    }

    /// argument-parser's message on one line: its first line, and the list
    /// of valid values it puts below (`- fatal`, `- error` …) joined after it.
    static func oneLine(_ message: String) -> String {
        let lines = message.split(separator: "\n").map { $0.trimmingWhitespace() }
        guard let first = lines.first else { return "invalid usage" }
        let items = lines.dropFirst().prefix { $0.hasPrefix("- ") }.map { String($0.dropFirst(2)) }
        return items.isEmpty ? first : first + " " + items.joined(separator: ", ")
    }

    static func fail(_ message: String, code: Int32) -> Never {
        Output.error(message)
        Output.flush()
        Glibc.exit(code)
    }
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("Read only this MariaDB option file (also OCTO_DEFAULTS_FILE).", valueName: "path"))
    var defaultsFile: String?

    @Option(
        name: .long,
        help: ArgumentHelp("This machine's name (also OCTO_MACHINE; default: the host name).", valueName: "name"))
    var machine: String?

    @Flag(name: .long, help: "Machine-readable output for scripts.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print only problems.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Print more detail.")
    var verbose = false
}

/// The `-n` of the listing commands (`sh runs`, `sh alerts`, `sh next`, `cursor history`): 1 to 10,000.
func checkCount(_ n: Int) throws {
    if !(1...10_000).contains(n) { throw ValidationError("invalid -n '\(n)': expected a whole number from 1 to 10000") }
}

/// A subcommand that works with octo's configuration. `run(_:)` gets a ready
/// `Context`; the subcommand never opens a connection of its own.
protocol OctoCommand: ParsableCommand {
    var global: GlobalOptions { get }
    func run(_ context: Context) throws
}

extension OctoCommand {
    func run() throws {
        let context = try Context(global)
        defer { context.close() }
        try run(context)
    }
}
