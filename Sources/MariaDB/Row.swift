/// The names of a result's columns, shared by all its rows.
public final class Columns: Sendable {
    public let names: [String]
    let index: [String: Int]

    init(_ names: [String]) {
        self.names = names
        var index: [String: Int] = [:]
        for (i, n) in names.enumerated() where index[n] == nil { index[n] = i }
        self.index = index
    }
}

/// One result row. Read a column by name or position; `decode` converts it to a
/// Swift type and throws a `RowDecodingError` naming the column and the type.
///
/// ```swift
/// let name: String = try row.decode("name")
/// let ended: Instant? = try row.decode("ended_at")
/// ```
public struct Row: Sendable {
    public let columns: Columns
    public let values: [Value]

    public subscript(_ i: Int) -> Value { values[i] }
    /// The column's value, or `.null` if there is no such column.
    public subscript(_ name: String) -> Value {
        guard let i = columns.index[name] else { return .null }
        return values[i]
    }

    /// The column as `T`; throws if it is NULL, missing or of another type.
    public func decode<T: SQLDecodable>(_ name: String, as: T.Type = T.self) throws -> T {
        guard let i = columns.index[name] else {
            throw RowDecodingError(column: name, expected: T.sqlTypeName, found: "no such column")
        }
        guard let v = T(sqlValue: values[i]) else { throw mismatch(name, T.self, values[i]) }
        return v
    }

    /// The column as `T`, or nil when it is NULL; throws if it holds another type.
    public func decode<T: SQLDecodable>(_ name: String, as: T?.Type = T?.self) throws -> T? {
        guard let i = columns.index[name] else {
            throw RowDecodingError(column: name, expected: T.sqlTypeName, found: "no such column")
        }
        if values[i].isNull { return nil }
        guard let v = T(sqlValue: values[i]) else { throw mismatch(name, T.self, values[i]) }
        return v
    }
}

extension Row {
    fileprivate func mismatch<T: SQLDecodable>(_ column: String, _ type: T.Type, _ v: Value) -> RowDecodingError {
        if T.self is any SQLTextEnum.Type, case .text(let text) = v {
            return RowDecodingError(column: column, expected: T.sqlTypeName, found: text.debugDescription)
        }
        return RowDecodingError(column: column, expected: T.sqlTypeName, found: v.kind)
    }
}

/// What a statement returned: rows for a query, counts for a change.
public struct QueryResult: Sendable {
    public let columns: Columns
    public let rows: [Row]
    /// Rows matched by an UPDATE (connections use CLIENT_FOUND_ROWS, so an
    /// UPDATE that sets a row to the values it already had still counts it),
    /// rows inserted or deleted otherwise.
    public let affectedRows: UInt64
    /// The AUTO_INCREMENT value of the first row inserted, or 0.
    public let lastInsertID: UInt64

    /// The first row, if any.
    public var first: Row? { rows.first }
}
