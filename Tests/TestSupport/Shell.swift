import MariaDB
import OctoCore
import OctoTime
import Subprocess
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Shell scripts in tests: pipelines into `octo logger`, background
/// followers, a private MariaDB that a test may stop and start.
public enum Shell {
    /// The checkout this test binary was built from.
    public static let root: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/TestSupport/Shell.swift
        return parts.joined(separator: "/")
    }()

    /// Runs `/bin/sh -c script` with `$OCTO` the built binary and
    /// `environment` added (the developer's own OCTO_* settings removed).
    public static func run(_ script: String, environment: [String: String] = [:]) async throws -> OctoBinary.Result {
        var env: [Environment.Key: String?] = ["OCTO": OctoBinary.path]
        for k in OctoBinary.unset where environment[k] == nil {
            env[Environment.Key(stringLiteral: k)] = nil as String?
        }
        for (k, v) in environment { env[Environment.Key(stringLiteral: k)] = v }
        return try await TimeLimit.run(
            ["/bin/sh", "-c", script], environment: .inherit.updating(env), describing: script)
    }
}

/// A MariaDB server of a test's own (`scripts/mariadb` in a temporary
/// directory), for tests that stop the database on purpose.
public final class PrivateServer: Sendable {
    public let directory: TemporaryDirectory
    public var defaultsFile: String { directory.path + "/mariadb/my.cnf" }

    /// Also listening on TCP at 127.0.0.1:`tcpPort` (a host list's server), when given.
    public let tcpPort: Int?

    public init(tcpPort: Int? = nil) {
        directory = TemporaryDirectory()
        self.tcpPort = tcpPort
    }

    public func start() async throws {
        let r = try await Shell.run(
            "OCTO_MARIADB_FAST=1 \"$ROOT/scripts/mariadb\" start \"$DIR/mariadb\"",
            environment: [
                "ROOT": Shell.root, "DIR": directory.path, "OCTO_MARIADB_BIND": tcpPort.map { "127.0.0.1:\($0)" } ?? ""
            ])
        guard r.status == 0 else { throw OctoError.failure("private MariaDB did not start: \(r.stderr)") }
    }

    public func stop() async throws {
        _ = try await Shell.run(
            "\"$ROOT/scripts/mariadb\" stop \"$DIR/mariadb\"", environment: ["ROOT": Shell.root, "DIR": directory.path])
    }

    /// An outage that ends at once: the server's socket is moved away (no new
    /// connection can be made) and every client session is killed (every
    /// open connection is lost); `restore()` moves the socket back. Unlike a
    /// restart, ending it takes no time, so a test of what a client retries
    /// for a bounded time does not race the server's start on a slow machine.
    public func cutOff() async throws {
        let r = try await Shell.run(
            """
            sock=$(sed -n 's/^socket = //p' "$CNF"); mv "$sock" "$sock.away"
            mariadb --defaults-file="$CNF" --socket="$sock.away" -N -e "SELECT CONCAT('KILL ', ID, ';') FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND NOT IN ('Daemon', 'Binlog Dump') AND USER NOT IN ('system user', 'event_scheduler')" \
              | mariadb --defaults-file="$CNF" --socket="$sock.away" -f 2>/dev/null; true
            """, environment: ["CNF": defaultsFile])
        guard r.status == 0 else { throw OctoError.failure("could not cut the private MariaDB off: \(r.stderr)") }
    }

    public func restore() async throws {
        let r = try await Shell.run(
            "sock=$(sed -n 's/^socket = //p' \"$CNF\"); mv \"$sock.away\" \"$sock\"", environment: ["CNF": defaultsFile]
        )
        guard r.status == 0 else { throw OctoError.failure("could not restore the private MariaDB: \(r.stderr)") }
    }

    /// Stops the server and removes its files.
    public func remove() async {
        try? await stop()
        _ = try? await Shell.run("rm -rf \"$DIR\"", environment: ["DIR": directory.path])
    }
}

extension PrivateServer {
    /// A private server with octo initialised, an empty state directory and
    /// machine `w1` in `env`; `connect` opens a connection to its `octo`
    /// database. Everything is removed afterwards, also when `body` fails.
    public static func withInitializedOcto(
        _ body: (PrivateServer, [String: String], () throws -> Connection) async throws -> Void
    ) async throws {
        let server = PrivateServer()
        try await server.start()
        let state = TemporaryDirectory()
        let env = ["OCTO_DEFAULTS_FILE": server.defaultsFile, "OCTO_STATE_DIR": state.path, "OCTO_MACHINE": "w1"]
        do {
            let r = try await Shell.run("\"$OCTO\" init -q", environment: env)
            #expect(r.status == 0, "\(r.stderr)")
            var options = ConnectionOptions()
            options.defaultsFile = server.defaultsFile
            options.database = "octo"
            try await body(server, env) { try Connection(options) }
        } catch {
            Issue.record(error)
        }
        // in a task of its own: a test cancelled by its time limit would cancel these too (its server kept running)
        await Task {
            await server.remove()
            _ = try? await Shell.run("rm -rf \"$D\"", environment: ["D": state.path])
        }.value
    }
}
