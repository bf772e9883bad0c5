import MariaDB
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

/// A cursor version: `epoch << 24 | n`.
///
/// Every claim takes the next epoch from the `cursor_epochs` sequence (so
/// does each `octo cursor set` by hand); `n` counts the values one run set,
/// from 1. Versions are therefore ordered by when runs started, and within a
/// run by the order of its sets — without asking the database at set time,
/// so a value set during an outage still gets its place. The remote cursor
/// only ever moves to a higher version: a run that started later always wins
/// over one that started earlier, whatever order their values arrive in.
public enum CursorVersion {
    /// Sets one run may make: 2^24 − 1.
    public static let setsPerRun: Int64 = (1 << 24) - 1

    public static func make(epoch: Int64, set n: Int64) -> Int64 { epoch << 24 | n }
    public static func epoch(of version: Int64) -> Int64 { version >> 24 }
    public static func setNumber(of version: Int64) -> Int64 { version & setsPerRun }

    /// `epoch.n`, how versions are shown to people.
    public static func text(_ version: Int64) -> String { "\(epoch(of: version)).\(setNumber(of: version))" }
}

public enum CursorValue {
    /// The longest cursor value, in bytes.
    public static let maxBytes = 1024

    /// Checks a cursor value: at most 1 KiB of UTF-8 text without NUL bytes.
    /// (Swift strings are valid UTF-8; raw bytes are checked where they arrive.)
    public static func check(_ value: String) throws(OctoError) {
        guard value.utf8.count <= maxBytes, !value.utf8.contains(0) else {
            throw OctoError.invalid(
                "cursor", value, expected: "UTF-8 text of at most \(maxBytes) bytes without NUL bytes")
        }
    }

    /// Checks a cursor value given on this process's command line (`octo
    /// cursor set`, `octo sh run --cursor`): the arguments' bytes must be
    /// UTF-8 (a Swift string has already repaired any that were not).
    public static func checkArgument(_ value: String) throws(OctoError) {
        for i in 1..<Int(CommandLine.argc) {
            guard let p = CommandLine.unsafeArgv[i] else { continue }
            let bytes = UnsafeBufferPointer(start: p, count: strlen(p)).map { UInt8(bitPattern: $0) }
            if String(validating: bytes, as: UTF8.self) == nil {
                throw OctoError.invalid(
                    "cursor", String(decoding: bytes, as: UTF8.self),
                    expected: "UTF-8 text (the bytes are not valid UTF-8)")
            }
        }
        try check(value)
    }
}

/// This machine's copy of a job's cursor: the last value it knows of, and
/// whether the database has it yet. One file per job under
/// `$OCTO_STATE_DIR/cursors/`.
public struct LocalCursor: Sendable, Equatable {
    public enum State: String, Sendable {
        /// Set here, not yet in the database: `octo cursor sync` (or the run's end) pushes it.
        case pending
        /// The database has it (or it was copied from there at claim).
        case synced
        /// The database refused it (stale or fenced); kept for inspection, never pushed.
        case refused
    }

    public var job: String
    public var value: String
    public var version: Int64
    /// The run that set it (nil: a copy of the remote cursor made at claim).
    public var runID: Int64?
    /// That run's lease token.
    public var token: String
    public var machine: String
    /// When it was set, by this machine's clock.
    public var setAt: Instant
    public var state: State
    /// Why it was refused.
    public var note: String

    public init(
        job: String, value: String, version: Int64, runID: Int64?, token: String, machine: String,
        setAt: Instant, state: State, note: String = ""
    ) {
        (self.job, self.value, self.version, self.runID, self.token) = (job, value, version, runID, token)
        (self.machine, self.setAt, self.state, self.note) = (machine, setAt, state, note)
    }
}

/// The local cursor files of one state directory.
///
/// A file is small text, readable at 3 a.m. with `cat`:
///
///     octo-cursor 1
///     job nightly-export
///     machine w1
///     version 4398046511105
///     run 1234
///     token 9f…
///     set-at 1795259100123456
///     state pending
///     note
///     value 10
///     2026-11-20
///
/// (`value N` is followed by exactly N bytes and a newline.) Every change is
/// written to a new file, flushed, and renamed over the old one, so a crash
/// leaves the old or the new file, never a mix; changes to one job's file
/// are serialised by `flock` on `.JOB.lock` beside it.
public struct CursorFiles: Sendable {
    public let directory: String

    public init(stateDirectory: String) { directory = stateDirectory + "/cursors" }

    public func path(_ job: String) -> String { directory + "/" + job + ".cursor" }

    /// Jobs with a local cursor file, by name (a job's name may begin with a
    /// dot: lock files end in `.lock`, temporaries in `.new`).
    public func jobs() -> [String] {
        listDirectory(directory).filter { $0.hasSuffix(".cursor") }.map { String($0.dropLast(7)) }
            .filter(Names.isValidName).sorted()
    }

    /// The job's local cursor, nil if there is none.
    public func read(_ job: String) throws(OctoError) -> LocalCursor? {
        guard let bytes = readFileBytes(path(job)) else {
            if errno == ENOENT { return nil }
            throw OctoError.failure("cannot read the local cursor \(path(job)): \(String(cString: strerror(errno)))")
        }
        guard let c = CursorFiles.decode(bytes[...]) else {
            throw OctoError.failure(
                "the local cursor \(path(job)) is damaged; move it away and run `octo cursor sync` again")
        }
        return c
    }

    /// Runs `body` with the job's local cursor under the job's lock and
    /// writes back what it leaves (if it changed). `durable`: flushed to disk
    /// before returning (for a value the database does not have yet).
    public func update<T>(_ job: String, durable: Bool = true, _ body: (inout LocalCursor?) throws -> T) throws -> T {
        try makeStateSubdirectory(directory)
        let lockPath = directory + "/." + job + ".lock"
        let lock = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw OctoError.failure("cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw OctoError.failure("cannot lock \(lockPath): \(String(cString: strerror(errno)))")
            }
        }
        let before = try read(job)
        var entry = before
        let result = try body(&entry)
        if let entry, entry != before { try writeNow(entry, durable: durable) }
        return result
    }

    /// Writes the file now (only while holding the job's lock, inside `update`).
    func writeNow(_ c: LocalCursor, durable: Bool = true) throws(OctoError) {
        let target = path(c.job)
        let temporary = directory + "/." + c.job + ".cursor." + String(getpid()) + ".new"
        // a new file, never one planted here (O_EXCL refuses an existing name, a link included)
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw OctoError.failure("cannot write the local cursor \(target): \(String(cString: strerror(errno)))")
        }
        let ok = writeAll(fd, CursorFiles.encode(c)) && (!durable || fsync(fd) == 0)
        let e = errno
        close(fd)
        guard ok, rename(temporary, target) == 0 else {
            let why = String(cString: strerror(ok ? errno : e))
            unlink(temporary)
            throw OctoError.failure("cannot write the local cursor \(target): \(why)")
        }
        if durable { fsyncDirectory(directory) }
    }

    // MARK: Format

    static func encode(_ c: LocalCursor) -> [UInt8] {
        let note = c.note.map { $0 == "\n" || $0 == "\r" ? " " : $0 }
        var text = "octo-cursor 1\njob \(c.job)\nmachine \(c.machine)\nversion \(c.version)\n"
        text += "run \(c.runID.map(String.init) ?? "-")\ntoken \(c.token.isEmpty ? "-" : c.token)\n"
        text +=
            "set-at \(c.setAt.microseconds)\nstate \(c.state.rawValue)\nnote \(String(note))\nvalue \(c.value.utf8.count)\n"
        return Array(text.utf8) + Array(c.value.utf8) + [10]
    }

    static func decode(_ bytes: ArraySlice<UInt8>) -> LocalCursor? {
        var fields: [String: String] = [:]
        var i = bytes.startIndex
        while i < bytes.endIndex {
            guard let nl = bytes[i...].firstIndex(of: 10) else { return nil }
            let line = String(decoding: bytes[i..<nl], as: UTF8.self)
            i = nl + 1
            let (key, rest) =
                line.firstIndex(of: " ").map { (String(line[..<$0]), String(line[line.index(after: $0)...])) } ?? (
                    line, ""
                )
            if key == "value" {
                guard let n = Int(rest), n >= 0, bytes.endIndex - i == n + 1, bytes[i + n] == 10 else { return nil }
                guard let value = String(validating: bytes[i..<(i + n)], as: UTF8.self) else { return nil }
                guard fields["octo-cursor"] == "1", let job = fields["job"], let machine = fields["machine"],
                    let version = fields["version"].flatMap({ Int64($0) }), let run = fields["run"],
                    let token = fields["token"],
                    let at = fields["set-at"].flatMap({ Int64($0) }),
                    let state = fields["state"].flatMap(LocalCursor.State.init)
                else { return nil }
                return LocalCursor(
                    job: job, value: value, version: version, runID: run == "-" ? nil : Int64(run),
                    token: token == "-" ? "" : token, machine: machine,
                    setAt: Instant(microsecondsSinceEpoch: at), state: state, note: fields["note"] ?? "")
            }
            fields[key] = rest
        }
        return nil
    }
}
