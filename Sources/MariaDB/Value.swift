import OctoTime

/// One SQL value, as bound to a statement parameter or read from a result column.
///
/// Every value that reaches the server travels as a bound parameter of a
/// prepared statement — never as SQL text.
public enum Value: Sendable, Hashable {
    case null
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case text(String)
    case bytes([UInt8])
    /// A `DATETIME(6)` in UTC.
    case instant(Instant)

    /// The name of the case, for error messages ("text", "integer", …).
    public var kind: String {
        switch self {
        case .null: "NULL"
        case .int, .uint: "integer"
        case .double: "double"
        case .text: "text"
        case .bytes: "bytes"
        case .instant: "datetime"
        }
    }

    public var isNull: Bool { if case .null = self { true } else { false } }
}

// MARK: - Encoding Swift values

/// A Swift type that can be bound as a statement parameter.
public protocol SQLEncodable { var sqlValue: Value { get } }

extension Value: SQLEncodable { public var sqlValue: Value { self } }
extension String: SQLEncodable { public var sqlValue: Value { .text(self) } }
extension Substring: SQLEncodable { public var sqlValue: Value { .text(String(self)) } }
extension Int: SQLEncodable { public var sqlValue: Value { .int(Int64(self)) } }
extension Int64: SQLEncodable { public var sqlValue: Value { .int(self) } }
extension Int32: SQLEncodable { public var sqlValue: Value { .int(Int64(self)) } }
extension UInt64: SQLEncodable { public var sqlValue: Value { .uint(self) } }
extension UInt32: SQLEncodable { public var sqlValue: Value { .uint(UInt64(self)) } }
extension UInt: SQLEncodable { public var sqlValue: Value { .uint(UInt64(self)) } }
extension Double: SQLEncodable { public var sqlValue: Value { .double(self) } }
extension Bool: SQLEncodable { public var sqlValue: Value { .int(self ? 1 : 0) } }
extension Instant: SQLEncodable { public var sqlValue: Value { .instant(self) } }
extension Optional: SQLEncodable where Wrapped: SQLEncodable {
    public var sqlValue: Value { self?.sqlValue ?? .null }
}

/// A domain value stored as its name (a run's state, a job's strategy …):
/// bound as text, and read back only when the stored text is one of its
/// cases — anything else is a `RowDecodingError` naming the column and the
/// text, never a silent default.
public protocol SQLTextEnum: RawRepresentable, CaseIterable, SQLEncodable, SQLDecodable, Sendable
where RawValue == String {}

extension SQLTextEnum {
    public var sqlValue: Value { .text(rawValue) }
    public static var sqlTypeName: String { "one of " + allCases.map(\.rawValue).joined(separator: ", ") }
    public init?(sqlValue v: Value) {
        guard let text = String(sqlValue: v), let value = Self(rawValue: text) else { return nil }
        self = value
    }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral
{
    public init(stringLiteral v: String) { self = .text(v) }
    public init(integerLiteral v: Int64) { self = .int(v) }
    public init(nilLiteral: ()) { self = .null }
    public init(floatLiteral v: Double) { self = .double(v) }
    public init(booleanLiteral v: Bool) { self = .int(v ? 1 : 0) }
}

// MARK: - Decoding column values

/// A Swift type that can be read from a result column.
///
/// `init(sqlValue:)` returns nil when the value does not fit; `Row` turns that
/// into a `RowDecodingError` naming the column and the expected type.
public protocol SQLDecodable {
    /// The type's name in error messages ("integer", "text", …).
    static var sqlTypeName: String { get }
    init?(sqlValue: Value)
}

extension String: SQLDecodable {
    public static var sqlTypeName: String { "text" }
    public init?(sqlValue v: Value) {
        switch v {
        case .text(let s): self = s
        case .bytes(let b): self = String(decoding: b, as: UTF8.self)
        case .int(let i): self = String(i)
        case .uint(let u): self = String(u)
        default: return nil
        }
    }
}

extension Int64: SQLDecodable {
    public static var sqlTypeName: String { "integer" }
    public init?(sqlValue v: Value) {
        switch v {
        case .int(let i): self = i
        case .uint(let u):
            guard let i = Int64(exactly: u) else { return nil }
            self = i
        case .text(let s):
            guard let i = Int64(s) else { return nil }
            self = i  // DECIMAL results (SUM)
        default: return nil
        }
    }
}

extension Int: SQLDecodable {
    public static var sqlTypeName: String { "integer" }
    public init?(sqlValue v: Value) {
        guard let i = Int64(sqlValue: v), let n = Int(exactly: i) else { return nil }
        self = n
    }
}

extension UInt64: SQLDecodable {
    public static var sqlTypeName: String { "unsigned integer" }
    public init?(sqlValue v: Value) {
        switch v {
        case .uint(let u): self = u
        case .int(let i):
            guard let u = UInt64(exactly: i) else { return nil }
            self = u
        case .text(let s):
            guard let u = UInt64(s) else { return nil }
            self = u
        default: return nil
        }
    }
}

extension Double: SQLDecodable {
    public static var sqlTypeName: String { "double" }
    public init?(sqlValue v: Value) {
        switch v {
        case .double(let d): self = d
        case .int(let i): self = Double(i)
        case .uint(let u): self = Double(u)
        case .text(let s):
            guard let d = Double(s) else { return nil }
            self = d
        default: return nil
        }
    }
}

extension Bool: SQLDecodable {
    public static var sqlTypeName: String { "boolean" }
    public init?(sqlValue v: Value) {
        guard let i = Int64(sqlValue: v) else { return nil }
        self = i != 0
    }
}

extension Instant: SQLDecodable {
    public static var sqlTypeName: String { "datetime" }
    public init?(sqlValue v: Value) {
        guard case .instant(let t) = v else { return nil }
        self = t
    }
}

extension Array: SQLDecodable where Element == UInt8 {
    public static var sqlTypeName: String { "bytes" }
    public init?(sqlValue v: Value) {
        switch v {
        case .bytes(let b): self = b
        case .text(let s): self = Array(s.utf8)
        default: return nil
        }
    }
}

/// A column could not be read as the type the caller asked for.
public struct RowDecodingError: Error, CustomStringConvertible, Sendable {
    public let column: String
    public let expected: String
    /// What the column held ("NULL", "text", …) — the value itself only
    /// for a domain value (`SQLTextEnum`), whose text is a short name.
    public let found: String
    public var description: String { "column '\(column)': expected \(expected), found \(found)" }

    public init(column: String, expected: String, found: String) {
        (self.column, self.expected, self.found) = (column, expected, found)
    }
}
