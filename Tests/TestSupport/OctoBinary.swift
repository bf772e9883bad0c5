import OctoCore
import OctoTime
import Subprocess
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The built `octo` executable, run the way cron and a person run it.
public enum OctoBinary {
    /// `.build/<triple>/debug/octo`, next to the test bundle (or `$OCTO_BINARY`).
    public static var path: String {
        if let p = TestDatabase.environment["OCTO_BINARY"] { return p }
        let me = CommandLine.arguments[0]
        let dir = me.lastIndex(of: "/").map { String(me[..<$0]) } ?? "."
        return dir + "/octo"
    }

    /// What one run printed and how it ended.
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        /// stdout split into lines, without the empty last one.
        public var lines: [String] {
            stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast(stdout.hasSuffix("\n") ? 1 : 0)
                .map(String.init)
        }
    }

    /// Runs `octo ARGS…` with `environment` added to a minimal environment
    /// (PATH, HOME, a private OCTO_STATE_DIR) and `input` on stdin.
    /// `octo monitor` in a test sweeps every time it is started (`--every 0`): tests start monitors one
    /// after the other and look at what each found; the fleet's sweep lease (once per `--every`) is
    /// tested by the tests that pass `--every` themselves.
    public static func sweepingEveryTime(_ arguments: [String]) -> [String] {
        arguments.first == "monitor" && !arguments.contains("--every") ? arguments + ["--every", "0"] : arguments
    }

    public static func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil)
        async throws -> Result
    {
        let arguments = sweepingEveryTime(arguments)
        var env: [Environment.Key: String?] = [:]
        for (k, v) in environment { env[Environment.Key(stringLiteral: k)] = v }
        for k in unset where environment[k] == nil {
            env[Environment.Key(stringLiteral: k)] = nil as String?
        }
        let environment = Environment.inherit.updating(env)
        if let input {
            // stdin from a file, not a pipe: a process that exits before reading (a refused argument) would make the
            // pipe's writer fail with EPIPE, which swift-subprocess 1.0 turns into a crash of the test process
            // ("FileDescriptor … was not closed") — met when octo sh user refused a name before reading its password
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let file = dir.write("stdin", input)
            return try await TimeLimit.run(
                ["/bin/sh", "-c", "exec \"$0\" \"$@\" < \"$OCTO_TEST_STDIN\"", path] + arguments,
                environment: environment.updating(["OCTO_TEST_STDIN": file]),
                describing: "octo " + arguments.joined(separator: " "))
        }
        return try await TimeLimit.run(
            [path] + arguments, environment: environment, describing: "octo " + arguments.joined(separator: " "))
    }

    /// Variables the test process may have that no process it starts should see (unless a test sets them):
    /// the developer's own option files and OCTO_* settings, and stdbuf's preload (scripts/test runs the suite
    /// under stdbuf; the preload is the runner's, not the processes').
    static let unset = [
        "OCTO_DEFAULTS_FILE", "OCTO_DB_HOST", "OCTO_DB_PORT", "OCTO_DB_READ_TIMEOUT", "OCTO_DB_SOCKET", "OCTO_DB_USER",
        "OCTO_DB_PASSWORD", "OCTO_DB_NAME", "OCTO_MACHINE", "OCTO_STATE_DIR", "OCTO_JOB", "OCTO_RUN_ID",
        "OCTO_RUN_TOKEN", "OCTO_CURSOR_EPOCH", "LD_PRELOAD", "_STDBUF_O", "_STDBUF_E"
    ]

    static func code(_ t: TerminationStatus) -> Int32 {
        switch t {
        case .exited(let c): c
        case .signaled(let s): 128 + s
        }
    }
}

/// Every process a test runs and waits for runs under coreutils' `timeout` (in a process group of its own,
/// killed whole): a program that never ends — a gate nobody opens after a failed expectation, a pipeline
/// waiting for a reader — fails its test, named, instead of holding the whole suite until CI's limit.
enum TimeLimit {
    /// Far above anything a test waits for on a loaded machine (the longest, the failover test's machines,
    /// take about 5 minutes there), and below a test's own limit (15 minutes), so this message comes first.
    static let seconds = 600

    /// Runs `argv` under `timeout`, its output and error read whole; an issue is recorded when the limit ended
    /// it (`timeout` exits 124 then).
    static func run(_ argv: [String], environment: Environment, describing what: String) async throws
        -> OctoBinary.Result
    {
        let r = try await Subprocess.run(
            .path("/usr/bin/timeout"), arguments: Arguments(["--kill-after=10", String(seconds)] + argv),
            environment: environment, platformOptions: platformOptions, output: .string(limit: 16 << 20),
            error: .string(limit: 1 << 20))
        let result = OctoBinary.Result(
            status: OctoBinary.code(r.terminationStatus), stdout: r.standardOutput, stderr: r.standardError)
        if result.status == 124 {
            Issue.record("\(what.prefix(300)) did not end within \(seconds) s: killed with its process group")
        }
        return result
    }

    /// In a process group of its own, which a cancelled test (its time limit, a scope left early) stops whole:
    /// stopping `timeout` alone would leave its command running and holding the output this side reads.
    static var platformOptions: PlatformOptions {
        var o = PlatformOptions()
        o.processGroupID = 0
        o.teardownSequence = [.send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: .seconds(5))]
        return o
    }
}
