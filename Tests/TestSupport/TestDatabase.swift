import MariaDB
import OctoCore
import OctoTime
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The MariaDB server the tests use: `scripts/test` starts a throwaway one and
/// points `OCTO_TEST_DEFAULTS_FILE` at its option file. Each test gets a fresh
/// database of its own, dropped afterwards, so tests run in parallel.
public enum TestDatabase {
    public static let environment = processEnvironment()
    public static var defaultsFile: String? { environment["OCTO_TEST_DEFAULTS_FILE"].flatMap { $0.isEmpty ? nil : $0 } }

    /// Database tests run when a server is configured — and also when
    /// `CI=true` without one, so that they fail there instead of being skipped.
    public static var shouldRun: Bool { defaultsFile != nil || environment["CI"] == "true" }

    /// Options for the test server, with `database` selected.
    public static func options(database: String?) throws -> ConnectionOptions {
        guard let file = defaultsFile else {
            throw OctoError.failure("no test database: OCTO_TEST_DEFAULTS_FILE is not set (run scripts/test)")
        }
        var o = ConnectionOptions()
        o.defaultsFile = file
        o.database = database
        // the tests' own queries are oracles, not octo: on a loaded CI machine a check over a million rows
        // (LoggerTests) took longer than octo's 30 s and the connection was dropped mid-query
        o.readTimeout = 600
        return o
    }

    /// A new, empty database with a random name; call `drop()` when done.
    public static func create(prefix: String = "octo_t") throws -> FreshDatabase {
        let name = prefix + "_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let admin = try Connection(options(database: "information_schema"))
        defer { admin.close() }
        try admin.run("CREATE DATABASE `\(name)` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        return FreshDatabase(name: name)
    }

    /// Runs `body` with a connection to a fresh database, dropped afterwards.
    public static func with<T>(_ body: (Connection, FreshDatabase) throws -> T) throws -> T {
        let fresh = try create()
        defer { fresh.drop() }
        let db = try fresh.connect()
        defer { db.close() }
        return try body(db, fresh)
    }

    /// Async variant, for tests that also run the octo binary.
    public static func withFresh<T>(_ body: (FreshDatabase) async throws -> T) async throws -> T {
        let fresh = try create()
        defer { fresh.drop() }
        return try await body(fresh)
    }
}

/// A database created for one test.
public struct FreshDatabase: Sendable {
    public let name: String

    /// A database by name (created by `TestDatabase.create`, or left for `octo init` to create).
    public init(name: String) {
        self.name = name
        mkdir(stateDirectory, 0o700)
    }

    /// octo's state directory (log spool, local cursors, the monitor's lock) for the processes a test runs against
    /// this database, removed with it. Not the runner's nor `~/.local/state/octo`: tests run in parallel, and a
    /// shared one let a monitor of one test skip its sweep while another test's monitor of the same machine held
    /// the lock, and would let one test's octo replay another's spool into its own database.
    public var stateDirectory: String {
        (TestDatabase.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp") + "/octo-state-" + name
    }

    public func connect() throws -> Connection { try Connection(TestDatabase.options(database: name)) }

    /// An `OctoConfig` for this database, as octo would resolve it.
    public func config(machine: String = "test-machine") throws -> OctoConfig {
        try OctoConfig(defaultsFile: TestDatabase.defaultsFile, machine: machine, environment: ["OCTO_DB_NAME": name])
    }

    /// Environment for running the octo binary against this database.
    public var environment: [String: String] {
        ["OCTO_DEFAULTS_FILE": TestDatabase.defaultsFile ?? "", "OCTO_DB_NAME": name, "OCTO_STATE_DIR": stateDirectory]
    }

    public func drop() {
        _ = try? ChildProcess.run(["rm", "-rf", stateDirectory])
        guard let admin = try? Connection(TestDatabase.options(database: "information_schema")) else { return }
        try? admin.run("DROP DATABASE IF EXISTS `\(name)`")
        admin.close()
    }
}

extension TestDatabase {
    /// A fresh database after `octo init`, a connection to it, the
    /// environment for running octo against it (a private state directory,
    /// machine `w1`) and that state directory; all removed afterwards.
    public static func withInitializedOcto(_ body: (Connection, [String: String], String) async throws -> Void)
        async throws
    {
        try await withFresh { (fresh: FreshDatabase) in
            let initialized = try await OctoBinary.run(["init", "-q"], environment: fresh.environment)
            #expect(initialized.status == 0, "\(initialized.stderr)")
            let db = try fresh.connect()
            defer { db.close() }
            let state = TemporaryDirectory()
            defer { _ = try? ChildProcess.run(["rm", "-rf", state.path]) }
            try await body(
                db, fresh.environment.merging(["OCTO_STATE_DIR": state.path, "OCTO_MACHINE": "w1"]) { $1 }, state.path)
        }
    }
}

extension Trait where Self == ConditionTrait {
    /// The test needs the MariaDB server of `scripts/test`.
    public static var database: Self {
        .enabled(
            if: TestDatabase.shouldRun, "needs a MariaDB server: run scripts/test (or set OCTO_TEST_DEFAULTS_FILE)")
    }
}

extension Trait where Self == TimeLimitTrait {
    /// A test that has not ended after 15 minutes fails, named, and is cancelled (a wait on a process or a
    /// stream ends with it), instead of holding the whole suite until CI's own limit; the longest test takes
    /// about 5 minutes on a loaded machine.
    public static var bounded: Self { .timeLimit(.minutes(15)) }
}

/// A temporary directory, removed by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init() {
        var template = Array("/tmp/octo-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(p != nil, "mkdtemp failed")
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes `text` to `name` inside the directory with `mode`, returns the path.
    @discardableResult
    public func write(_ name: String, _ text: String, mode: mode_t = 0o600) -> String {
        let file = path + "/" + name
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, mode)
        precondition(fd >= 0)
        var t = text
        t.withUTF8 { _ = Glibc.write(fd, $0.baseAddress, $0.count) }
        fchmod(fd, mode)
        close(fd)
        return file
    }

    /// Removes the directory and everything in it (subdirectories too, such as a state directory's spool
    /// and cursors; a symbolic link is removed, never followed).
    public func remove() { removeTree(path) }

    private func removeTree(_ p: String) {
        for name in listEntries(p) {
            let entry = p + "/" + name
            var s = stat()
            if lstat(entry, &s) == 0 && (s.st_mode & S_IFMT) == S_IFDIR {
                removeTree(entry)
            } else {
                unlink(entry)
            }
        }
        rmdir(p)
    }

    private func listEntries(_ p: String) -> [String] {
        guard let d = opendir(p) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let n = withUnsafeBytes(of: e.pointee.d_name) {
                String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if n != "." && n != ".." { out.append(n) }
        }
        return out
    }
}

/// Open file descriptors of this process.
public func openDescriptorCount() -> Int {
    guard let d = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(d) }
    var n = 0
    while readdir(d) != nil { n += 1 }
    return n - 2
}

/// Open sockets of this process (what a leaked MariaDB connection leaves):
/// unlike `openDescriptorCount`, pipes of processes other tests run in
/// parallel do not count.
public func openSocketCount() -> Int {
    guard let d = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(d) }
    var n = 0
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) {
            String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        var buf = [CChar](repeating: 0, count: 64)
        let len = readlink("/proc/self/fd/" + name, &buf, buf.count - 1)
        if len > 7, String(decoding: buf[0..<7].map { UInt8(bitPattern: $0) }, as: UTF8.self) == "socket:" { n += 1 }
    }
    return n
}
