import CMariaDB
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

/// A prepared statement. Holds the connection's handle strongly, so the
/// `MYSQL*` always outlives the `MYSQL_STMT*`; closed in `deinit`.
final class Statement {
    private let handle: Handle
    private let stmt: UnsafeMutablePointer<MYSQL_STMT>
    private let parameterCount: Int
    let sql: String

    init(handle: Handle, sql: String) throws(MariaDBError) {
        guard let m = handle.mysql else {
            throw MariaDBError(
                code: .serverGone, sqlState: "HY000", message: "the connection is closed", operation: "prepare")
        }
        guard let s = mysql_stmt_init(m) else { throw MariaDBError(connection: m, operation: "prepare") }
        let rc = sql.withCString { mysql_stmt_prepare(s, $0, UInt(strlen($0))) }
        if rc != 0 {
            let e = MariaDBError(statement: s, operation: "prepare")
            mysql_stmt_close(s)
            throw e
        }
        var updateMaxLength: my_bool = 1  // so that fields' max_length sizes the result buffers exactly
        mysql_stmt_attr_set(s, STMT_ATTR_UPDATE_MAX_LENGTH, &updateMaxLength)
        self.handle = handle
        self.stmt = s
        self.parameterCount = Int(mysql_stmt_param_count(s))
        self.sql = sql
    }

    deinit { mysql_stmt_close(stmt) }

    func execute(_ parameters: [Value]) throws(MariaDBError) -> QueryResult {
        guard parameters.count == parameterCount else {
            throw MariaDBError(
                code: .client, sqlState: "07001",
                message: "statement has \(parameterCount) placeholders but \(parameters.count) values were given",
                operation: "bind")
        }
        // The buffers bound to the statement live in `arena` until after execute.
        let arena = BindArena()
        if parameterCount > 0 {
            let binds = arena.binds(parameterCount)
            for (i, v) in parameters.enumerated() { arena.bind(v, into: &binds[i]) }
            guard mysql_stmt_bind_param(stmt, binds) == 0 else {
                throw MariaDBError(statement: stmt, operation: "bind")
            }
        }
        let rc = mysql_stmt_execute(stmt)
        withExtendedLifetime(arena) {}
        guard rc == 0 else { throw MariaDBError(statement: stmt, operation: "execute") }
        return try readResult()
    }

    private func readResult() throws(MariaDBError) -> QueryResult {
        guard let meta = mysql_stmt_result_metadata(stmt) else {
            return QueryResult(
                columns: Columns([]), rows: [], affectedRows: UInt64(mysql_stmt_affected_rows(stmt)),
                lastInsertID: UInt64(mysql_stmt_insert_id(stmt)))
        }
        defer {
            mysql_free_result(meta)
            mysql_stmt_free_result(stmt)
        }
        guard mysql_stmt_store_result(stmt) == 0 else { throw MariaDBError(statement: stmt, operation: "fetch") }

        let n = Int(mysql_num_fields(meta))
        let fields = mysql_fetch_fields(meta)!
        var names: [String] = []
        names.reserveCapacity(n)
        let arena = BindArena()
        let binds = arena.binds(n)
        var kinds: [ColumnKind] = []
        for i in 0..<n {
            let f = fields[i]
            names.append(String(cString: f.name))
            kinds.append(arena.bindResult(f, into: &binds[i]))
        }
        guard mysql_stmt_bind_result(stmt, binds) == 0 else { throw MariaDBError(statement: stmt, operation: "fetch") }
        let columns = Columns(names)
        var rows: [Row] = []
        rows.reserveCapacity(Int(mysql_stmt_num_rows(stmt)))
        while true {
            let rc = mysql_stmt_fetch(stmt)
            if rc == MYSQL_NO_DATA { break }
            if rc == 1 { throw MariaDBError(statement: stmt, operation: "fetch") }
            var values: [Value] = []
            values.reserveCapacity(n)
            for i in 0..<n { values.append(arena.value(of: binds[i], kind: kinds[i])) }
            rows.append(Row(columns: columns, values: values))
        }
        return QueryResult(
            columns: columns, rows: rows, affectedRows: UInt64(mysql_stmt_affected_rows(stmt)), lastInsertID: 0)
    }
}

/// How a result column is read into Swift.
enum ColumnKind { case signed, unsigned, double, datetime, text, bytes, null }

/// Owns every buffer bound to a statement for one execute or one result, and
/// frees them together.
final class BindArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit { for p in allocations { p.deallocate() } }

    private func allocate(_ size: Int, alignment: Int = 8) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: alignment)
        allocations.append(p)
        return p
    }

    func binds(_ n: Int) -> UnsafeMutablePointer<MYSQL_BIND> {
        let p = allocate(MemoryLayout<MYSQL_BIND>.stride * n, alignment: MemoryLayout<MYSQL_BIND>.alignment)
            .bindMemory(to: MYSQL_BIND.self, capacity: n)
        p.initialize(repeating: MYSQL_BIND(), count: n)
        return p
    }

    private func copy<T>(_ value: T) -> UnsafeMutableRawPointer {
        let p = allocate(MemoryLayout<T>.size, alignment: MemoryLayout<T>.alignment)
        p.storeBytes(of: value, as: T.self)
        return p
    }

    private func copyBytes<C: Collection>(_ bytes: C, into b: inout MYSQL_BIND) where C.Element == UInt8 {
        let p = allocate(bytes.count)
        p.copyMemory(from: Array(bytes), byteCount: bytes.count)
        b.buffer = p
        b.buffer_length = UInt(bytes.count)
        b.length = copy(UInt(bytes.count)).assumingMemoryBound(to: UInt.self)
    }

    // MARK: parameters

    func bind(_ v: Value, into b: inout MYSQL_BIND) {
        switch v {
        case .null:
            b.buffer_type = MYSQL_TYPE_NULL
        case .int(let i):
            b.buffer_type = MYSQL_TYPE_LONGLONG
            b.buffer = copy(i)
        case .uint(let u):
            b.buffer_type = MYSQL_TYPE_LONGLONG
            b.buffer = copy(u)
            b.is_unsigned = 1
        case .double(let d):
            b.buffer_type = MYSQL_TYPE_DOUBLE
            b.buffer = copy(d)
        case .text(let s):
            b.buffer_type = MYSQL_TYPE_STRING
            copyBytes(s.utf8, into: &b)
        case .bytes(let bytes):
            b.buffer_type = MYSQL_TYPE_BLOB
            copyBytes(bytes, into: &b)
        case .instant(let t):
            b.buffer_type = MYSQL_TYPE_DATETIME
            let c = t.utc
            var mt = MYSQL_TIME()
            mt.year = UInt32(c.year)
            mt.month = UInt32(c.month)
            mt.day = UInt32(c.day)
            mt.hour = UInt32(c.hour)
            mt.minute = UInt32(c.minute)
            mt.second = UInt32(c.second)
            mt.second_part = UInt(c.microsecond)
            mt.time_type = MYSQL_TIMESTAMP_DATETIME
            b.buffer = copy(mt)
        }
    }

    // MARK: results

    func bindResult(_ f: MYSQL_FIELD, into b: inout MYSQL_BIND) -> ColumnKind {
        b.is_null = copy(my_bool(0)).assumingMemoryBound(to: my_bool.self)
        b.length = copy(UInt(0)).assumingMemoryBound(to: UInt.self)
        let kind: ColumnKind
        switch f.type {
        case MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_LONG, MYSQL_TYPE_INT24, MYSQL_TYPE_LONGLONG, MYSQL_TYPE_YEAR:
            b.buffer_type = MYSQL_TYPE_LONGLONG
            b.buffer = copy(Int64(0))
            b.buffer_length = 8
            let unsigned = f.flags & UInt32(UNSIGNED_FLAG) != 0
            b.is_unsigned = unsigned ? 1 : 0
            kind = unsigned ? .unsigned : .signed
        case MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE:
            b.buffer_type = MYSQL_TYPE_DOUBLE
            b.buffer = copy(Double(0))
            b.buffer_length = 8
            kind = .double
        case MYSQL_TYPE_DATETIME, MYSQL_TYPE_TIMESTAMP, MYSQL_TYPE_DATE, MYSQL_TYPE_NEWDATE:
            b.buffer_type = MYSQL_TYPE_DATETIME
            b.buffer = copy(MYSQL_TIME())
            b.buffer_length = UInt(MemoryLayout<MYSQL_TIME>.size)
            kind = .datetime
        case MYSQL_TYPE_NULL:
            b.buffer_type = MYSQL_TYPE_NULL
            kind = .null
        default:  // strings, blobs, DECIMAL, TIME, JSON, ENUM, SET, BIT
            let binary =
                f.charsetnr == 63 && f.type != MYSQL_TYPE_NEWDECIMAL && f.type != MYSQL_TYPE_DECIMAL
                && f.type != MYSQL_TYPE_TIME
            b.buffer_type = binary ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING
            let size = Int(f.max_length)
            b.buffer = allocate(size)
            b.buffer_length = UInt(max(size, 1))
            kind = binary ? .bytes : .text
        }
        return kind
    }

    func value(of b: MYSQL_BIND, kind: ColumnKind) -> Value {
        if b.is_null.pointee != 0 { return .null }
        switch kind {
        case .null: return .null
        case .signed: return .int(b.buffer.load(as: Int64.self))
        case .unsigned: return .uint(b.buffer.load(as: UInt64.self))
        case .double: return .double(b.buffer.load(as: Double.self))
        case .datetime:
            let t = b.buffer.load(as: MYSQL_TIME.self)
            // zero dates are not valid instants; strict mode keeps them out of octo's tables
            let instant = Instant(
                year: Int(t.year), month: Int(t.month), day: Int(t.day), hour: Int(t.hour),
                minute: Int(t.minute), second: Int(t.second), microsecond: Int(t.second_part))
            return instant.map(Value.instant) ?? .null
        case .text, .bytes:
            let count = Int(b.length.pointee)
            let raw = UnsafeRawBufferPointer(start: b.buffer, count: min(count, Int(b.buffer_length)))
            return kind == .text ? .text(String(decoding: raw, as: UTF8.self)) : .bytes(Array(raw))
        }
    }
}
