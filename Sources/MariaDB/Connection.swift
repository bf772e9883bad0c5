import CMariaDB
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

/// libmariadb's global state is set up once per process, before any thread
/// calls `mysql_init` (which would otherwise do it racily).
private let libraryReady: Bool = mysql_server_init(0, nil, nil) == 0

/// Owns one `MYSQL*`. Separate from `Connection` so that statements can hold
/// it strongly (the handle outlives every statement prepared on it) without a
/// reference cycle through the connection's statement cache.
final class Handle {
    private(set) var mysql: UnsafeMutablePointer<MYSQL>?
    /// What this connection's `LOAD DATA LOCAL INFILE` may send (`Connection.loadLocal`).
    let infile = LocalInfile()

    init(_ mysql: UnsafeMutablePointer<MYSQL>) {
        self.mysql = mysql
        // `LOAD DATA LOCAL` is served only by these callbacks: the bytes of `loadLocal`'s own call, never a
        // file — a server asking at any other moment, or naming a file, gets an error (libmariadb's default
        // handler would open whatever file the server names)
        var on: UInt32 = 1
        mysql_options(mysql, MYSQL_OPT_LOCAL_INFILE, &on)
        mysql_set_local_infile_handler(
            mysql, localInfileInit, localInfileRead, localInfileEnd, localInfileError,
            Unmanaged.passUnretained(infile).toOpaque())
    }

    func close() {
        if let m = mysql { mysql_close(m) }
        mysql = nil
    }

    deinit { close() }
}

/// One connection to MariaDB, synchronous and not `Sendable`: one process,
/// one connection, deterministic cleanup. The handle is closed on every path,
/// including a failed connect.
///
/// Every session runs in UTC (`time_zone = '+00:00'`), so `NOW(6)` and
/// `DATETIME(6)` values are UTC instants, in strict SQL mode, and at
/// READ COMMITTED: every statement of a transaction reads the latest committed
/// rows (a count taken after waiting for a lock sees what the lock holder
/// committed), and InnoDB takes no gap locks, so inserts into the queue never
/// wait for a claim.
///
/// ```swift
/// let db = try Connection(options)
/// let rows = try db.query("SELECT name FROM jobs WHERE owner = ?", ["ops@example.com"]).rows
/// try db.transaction { try db.execute("UPDATE jobs SET paused = 1 WHERE name = ?", [name]) }
/// ```
public final class Connection {
    public let options: ConnectionOptions
    var handle: Handle
    private var statements: [String: Statement] = [:]
    private static let statementCacheLimit = 64
    /// True between `begin()` and `commit()`/`rollback()`.
    public private(set) var inTransaction = false

    /// Connects now; throws `MariaDBError` (e.g. 2002 when nothing listens on
    /// the socket, 1045 for a wrong password).
    public init(_ options: ConnectionOptions) throws(MariaDBError) {
        self.options = options
        (self.handle, self.server) = try Connection.open(options)
    }

    /// The server of `options.hosts` this connection went to (nil without a host list).
    public private(set) var server: ConnectionOptions.Host?

    /// With a host list, the first server that answers and is writable; otherwise the one server.
    private static func open(_ o: ConnectionOptions) throws(MariaDBError) -> (Handle, ConnectionOptions.Host?) {
        guard o.hosts.count > 1 else { return (try openOne(o), nil) }
        var failures: [String] = []
        var lastFailure: MariaDBError?
        var readOnly: [String] = []
        for h in o.hosts {
            do {
                let handle = try openOne(o.only(h))
                if try isReadOnly(handle) {
                    handle.close()
                    readOnly.append(h.description)
                    continue
                }
                return (handle, h)
            } catch {
                failures.append("\(h): \(error.message)")
                lastFailure = error
            }
        }
        // a server that answers read-only is a switch-over in progress (or a replica alone): transient, retried
        if !readOnly.isEmpty || lastFailure == nil {
            throw MariaDBError(
                code: .readOnly, sqlState: "HY000",
                message: "no writable primary among \(o.hosts.map(\.description).joined(separator: ", ")): "
                    + (readOnly.map { "\($0) is read-only" } + failures).joined(separator: "; "),
                operation: "connect")
        }
        throw MariaDBError(
            code: lastFailure!.code, sqlState: lastFailure!.sqlState,
            message: "no server of the host list answered: " + failures.joined(separator: "; "), operation: "connect")
    }

    /// `@@global.read_only` of a new connection (a replica, or a primary being switched over).
    private static func isReadOnly(_ handle: Handle) throws(MariaDBError) -> Bool {
        guard let m = handle.mysql else { return true }
        guard mysql_query(m, "SELECT @@global.read_only") == 0, let result = mysql_store_result(m) else {
            throw MariaDBError(connection: m, operation: "read @@read_only")
        }
        defer { mysql_free_result(result) }
        guard let row = mysql_fetch_row(result), let v = row[0] else { return true }
        return String(cString: v) != "0"
    }

    private static func openOne(_ o: ConnectionOptions) throws(MariaDBError) -> Handle {
        guard libraryReady, let m = mysql_init(nil) else {
            throw MariaDBError(
                code: .client, sqlState: "HY000", message: "libmariadb could not be initialised", operation: "connect")
        }
        // From here on `handle` owns `m`: any throw closes it.
        let handle = Handle(m)
        var timeout = o.connectTimeout
        mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout)
        mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4")
        // idle_transaction_timeout: a client that vanishes inside a transaction (its machine died, its link
        // was cut) would keep its row locks until the server notices the dead TCP connection — hours, with
        // the default wait_timeout — and every octo process on every machine would queue behind them. Our
        // transactions never wait on anything but the server, so one idle for 15 s has lost its client: the
        // server kills the connection and rolls back. (A live client sees a lost connection, which
        // `retrying` handles.) MariaDB 10.3 or later.
        // innodb_lock_wait_timeout / lock_wait_timeout (row and metadata locks): 20 s, below the 30 s read
        // timeout (`ConnectionOptions.lockWaitSeconds`), so a long wait ends as the server's 1205 on a live
        // connection — retried in place — and not as a client-side "lost connection" (2013) that leaves the
        // statement waiting on the server (a DDL waiting for a metadata lock blocks every later query on
        // its table) and forces a reconnect. The server defaults are 50 s and a year.
        mysql_options(
            m, MYSQL_INIT_COMMAND,
            """
            SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO', \
            tx_isolation = 'READ-COMMITTED', idle_transaction_timeout = 15, innodb_lock_wait_timeout = \(o.lockWait), \
            lock_wait_timeout = \(o.lockWait)
            """)
        var readTimeout = o.readTimeout
        mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &readTimeout)
        mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &readTimeout)
        if o.readOptionFiles {
            if let file = o.defaultsFile { mysql_options(m, MYSQL_READ_DEFAULT_FILE, file) }
            mysql_options(m, MYSQL_READ_DEFAULT_GROUP, o.group)
        }
        let flags = UInt(CLIENT_FOUND_ROWS)
        let ok = mysql_real_connect(m, o.host, o.user, o.password, o.database, o.port ?? 0, o.socket, flags)
        guard ok != nil else { throw MariaDBError(connection: m, operation: "connect") }
        return handle
    }

    /// Closes the connection; later calls throw "server gone". Safe to call twice.
    public func close() {
        statements.removeAll()
        handle.close()
        inTransaction = false
    }

    /// Drops the current connection and opens a new one with the same options.
    public func reconnect() throws(MariaDBError) {
        close()
        (handle, server) = try Connection.open(options)
    }

    var mysql: UnsafeMutablePointer<MYSQL> {
        get throws(MariaDBError) {
            guard let m = handle.mysql else {
                throw MariaDBError(
                    code: .serverGone, sqlState: "HY000", message: "the connection is closed", operation: "use")
            }
            return m
        }
    }

    /// The server's version string, e.g. `10.11.19-MariaDB-0+deb12u1`.
    public var serverVersion: String {
        guard let m = handle.mysql, let v = mysql_get_server_info(m) else { return "" }
        return String(cString: v)
    }

    /// How the connection reached the server, e.g. `Localhost via UNIX socket`.
    public var hostInfo: String {
        guard let m = handle.mysql, let v = mysql_get_host_info(m) else { return "" }
        return String(cString: v)
    }

    /// Makes `name` the default database (`mysql_select_db`: no SQL text involved).
    public func selectDatabase(_ name: String) throws(MariaDBError) {
        let m = try mysql
        guard mysql_select_db(m, name) == 0 else { throw MariaDBError(connection: m, operation: "select database") }
        statements.removeAll()
    }

    // MARK: - Statements

    /// Runs one statement with its `?` placeholders bound to `parameters`,
    /// and returns its rows or counts. Statements are prepared once per
    /// connection and reused.
    @discardableResult
    public func query(_ sql: String, _ parameters: [Value] = []) throws(MariaDBError) -> QueryResult {
        do {
            return try prepared(sql).execute(parameters)
        } catch  where error.code == .needReprepare {
            statements[sql] = nil  // the table changed under a cached statement: prepare again once
            return try prepared(sql).execute(parameters)
        } catch {
            // An error can leave the statement half-way through a result (a deadlock reported while rows are
            // read, after the column metadata): libmariadb would wait at its next execute for the rest of
            // that result, which never comes. A failed statement is closed and prepared afresh next time.
            statements[sql] = nil
            throw error
        }
    }

    /// Runs a statement for its effect and returns the affected row count.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [Value] = []) throws(MariaDBError) -> UInt64 {
        try query(sql, parameters).affectedRows
    }

    /// Runs SQL that has no values in it at all — DDL, `SET`, transaction
    /// control — through the text protocol. Never put a value into `sql`:
    /// anything that comes from outside goes through `query` as a parameter.
    public func run(_ sql: String) throws(MariaDBError) {
        let m = try mysql
        let rc = sql.withCString { mysql_real_query(m, $0, UInt(strlen($0))) }
        guard rc == 0 else { throw MariaDBError(connection: m, operation: "query") }
        // drain any result so the connection stays usable
        if let r = mysql_store_result(m) { mysql_free_result(r) }
    }

    /// Runs `LOAD DATA LOCAL INFILE …` (`sql`, without values, as for `run`) with the file made while it is
    /// sent, whatever name the statement gives: `next` appends the next bytes to the buffer it is given (empty)
    /// whenever the server has taken the last ones, and appends nothing at the end. It must not fail:
    /// libmariadb ends the file at a failed read and the server stores what it got. Returns the rows inserted;
    /// throws 4166 (`localInfileDisabled`; 1148 before MariaDB 10.6) when the server's `local_infile` is off.
    public func loadLocal(_ sql: String, streaming next: (inout [UInt8]) -> Void) throws(MariaDBError) -> UInt64 {
        let m = try mysql
        let infile = handle.infile
        return try withoutActuallyEscaping(next) { next throws(MariaDBError) -> UInt64 in
            infile.next = next
            infile.armed = true  // the init callback starts it with an empty buffer
            defer {
                infile.next = nil
                infile.buffer = []
                infile.armed = false
            }
            let rc = sql.withCString { mysql_real_query(m, $0, UInt(strlen($0))) }
            guard rc == 0 else { throw MariaDBError(connection: m, operation: "load data") }
            if let r = mysql_store_result(m) { mysql_free_result(r) }
            return UInt64(mysql_affected_rows(m))
        }
    }

    private func prepared(_ sql: String) throws(MariaDBError) -> Statement {
        if let s = statements[sql] { return s }
        let s = try Statement(handle: handle, sql: sql)
        if statements.count >= Connection.statementCacheLimit { statements.removeAll() }
        statements[sql] = s
        return s
    }

    // MARK: - Transactions

    /// Runs `body` in a transaction: COMMIT if it returns, ROLLBACK if it throws.
    /// Keep it short — never around a process spawn, a sleep or user code.
    @discardableResult
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        precondition(!inTransaction, "nested transaction")
        try run("START TRANSACTION")
        inTransaction = true
        do {
            let value = try body()
            try run("COMMIT")
            inTransaction = false
            return value
        } catch {
            inTransaction = false
            if handle.mysql != nil { try? run("ROLLBACK") }
            throw error
        }
    }

    /// Runs `body` (a whole unit of work — usually one transaction) and runs
    /// it again after a transient error: deadlock, lock wait timeout,
    /// read-only after a switch-over, or a lost connection, which is
    /// re-established first. A connection that cannot be re-established is
    /// retried too: this connection was open once, so the server is away for
    /// a moment (a restart, a fail-over), not misconfigured. Other errors, and
    /// the last transient one when the attempts are used up, are thrown.
    public func retrying<T>(_ policy: RetryPolicy = .standard, _ body: (Connection) throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                if handle.mysql == nil { try reconnect() }
                return try body(self)
            } catch let e as MariaDBError where (e.isTransient || e.isConnectFailure) && policy.allows(attempt + 1) {
                if e.isConnectionLost || e.isConnectFailure || e.code == .readOnly { close() }
                policy.pause(before: attempt + 1)
                attempt += 1
            }
        }
    }
}

/// How often and how patiently `Connection.retrying` tries again.
public struct RetryPolicy: Sendable {
    public var attempts: Int
    /// Delay before the second attempt; doubles each time, up to `maxDelay`.
    public var baseDelay: Duration
    public var maxDelay: Duration

    /// When set, attempts go on until this instant instead (however many that takes).
    public var deadline: ContinuousClock.Instant?

    public init(attempts: Int, baseDelay: Duration, maxDelay: Duration) {
        (self.attempts, self.baseDelay, self.maxDelay) = (attempts, baseDelay, maxDelay)
    }

    /// Tries again until `deadline`: 100 ms doubling up to 2 s between attempts. For a write whose loss
    /// costs more than the wait — e.g. recording that an alert went out, lest another monitor send it again.
    public static func until(_ deadline: ContinuousClock.Instant) -> RetryPolicy {
        var p = RetryPolicy(attempts: 0, baseDelay: .milliseconds(100), maxDelay: .seconds(2))
        p.deadline = deadline
        return p
    }

    func allows(_ attempt: Int) -> Bool {
        if let deadline { return ContinuousClock.now < deadline }
        return attempt <= attempts
    }

    /// 5 attempts, 50 ms doubling up to 2 s: rides out a deadlock or a
    /// failover of a few seconds.
    public static let standard = RetryPolicy(attempts: 5, baseDelay: .milliseconds(50), maxDelay: .seconds(2))

    func pause(before attempt: Int) {
        var delay = baseDelay.microseconds << min(attempt - 2, 20)
        delay = min(delay, maxDelay.microseconds)
        // ±25 % jitter so that many machines do not retry in lock-step
        let jitter = delay / 4
        if jitter > 0 { delay += Int64.random(in: -jitter...jitter) }
        if delay > 0 { usleep(UInt32(clamping: delay)) }
    }
}

extension MariaDBError {
    init(connection m: UnsafeMutablePointer<MYSQL>, operation: String) {
        self.init(
            code: Code(mysql_errno(m)), sqlState: String(cString: mysql_sqlstate(m)),
            message: String(cString: mysql_error(m)), operation: operation)
    }

    init(statement s: UnsafeMutablePointer<MYSQL_STMT>, operation: String) {
        self.init(
            code: Code(mysql_stmt_errno(s)), sqlState: String(cString: mysql_stmt_sqlstate(s)),
            message: String(cString: mysql_stmt_error(s)), operation: operation)
    }
}

// MARK: - LOAD DATA LOCAL INFILE

/// The one "file" a connection may send: set by `Connection.loadLocal` for the length of its statement.
final class LocalInfile {
    /// Appends the file's next bytes (nothing at its end); set only while `loadLocal`'s statement runs.
    var next: ((inout [UInt8]) -> Void)?
    var buffer: [UInt8] = []
    var offset = 0
    /// True only while `loadLocal`'s statement runs, and for one request.
    var armed = false
}

private func localInfileInit(
    _ state: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ name: UnsafePointer<CChar>?,
    _ userdata: UnsafeMutableRawPointer?
) -> Int32 {
    state?.pointee = userdata
    guard let userdata else { return 1 }
    let infile = Unmanaged<LocalInfile>.fromOpaque(userdata).takeUnretainedValue()
    guard infile.armed, infile.next != nil else { return 1 }
    infile.armed = false
    infile.buffer.removeAll(keepingCapacity: true)
    infile.offset = 0
    return 0
}

private func localInfileRead(_ state: UnsafeMutableRawPointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ size: UInt32)
    -> Int32
{
    guard let state, let buffer else { return -1 }
    let infile = Unmanaged<LocalInfile>.fromOpaque(state).takeUnretainedValue()
    if infile.offset == infile.buffer.count, let next = infile.next {
        infile.buffer.removeAll(keepingCapacity: true)
        infile.offset = 0
        next(&infile.buffer)
    }
    let n = min(Int(size), infile.buffer.count - infile.offset)
    guard n > 0 else { return 0 }
    infile.buffer.withUnsafeBytes { src in
        UnsafeMutableRawPointer(buffer).copyMemory(from: src.baseAddress! + infile.offset, byteCount: n)
    }
    infile.offset += n
    return Int32(n)
}

private func localInfileEnd(_ state: UnsafeMutableRawPointer?) {}

private func localInfileError(_ state: UnsafeMutableRawPointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ size: UInt32)
    -> Int32
{
    let message = "octo sends LOAD DATA LOCAL only its own rows, and only for its own statement; no file is read"
    if let buffer, size > 0 {
        let bytes = Array(message.utf8.prefix(Int(size) - 1)) + [0]
        bytes.withUnsafeBytes {
            UnsafeMutableRawPointer(buffer).copyMemory(from: $0.baseAddress!, byteCount: bytes.count)
        }
    }
    return Int32(CR_UNKNOWN_ERROR)
}
