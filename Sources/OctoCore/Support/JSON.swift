import FoundationEssentials

/// A JSON value with the field order fixed by the encoder's sorted keys.
public enum JSON: Encodable, Sendable {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case null
    case array([JSON])
    case object([String: JSON])

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

extension JSON {
    /// The value as one line of JSON, keys sorted so output is stable: the
    /// one JSON writer of octo (`--json` output, the alert on the alert
    /// command's stdin).
    public func text() throws -> String { try JSON.text(self) }

    /// Any encodable value as one line of JSON, keys sorted.
    public static func text<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
