import MariaDB
import OctoTime

/// An error octo reports to a person: one line, and the exit code it maps to.
///
/// `.usage` (exit 2) is bad input: the message names the offending value and
/// what would be valid, and nothing has been written. `.failure` (exit 1) is
/// an operational failure: the database is unreachable, a run failed, …
public struct OctoError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case usage, failure }
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// Bad input: `invalid("duration", "-5m", expected: "a number with s, m, h or d, e.g. 90s")`
    /// reads `invalid duration '-5m': expected a number with s, m, h or d, e.g. 90s`.
    public static func invalid(_ what: String, _ value: String, expected: String) -> OctoError {
        OctoError(.usage, "invalid \(what) '\(value.quotedForMessage)': expected \(expected)")
    }

    public static func usage(_ message: String) -> OctoError { OctoError(.usage, message) }
    public static func failure(_ message: String) -> OctoError { OctoError(.failure, message) }

    public var exitCode: Int32 { kind == .usage ? 2 : 1 }
    public var description: String { message }
}

extension String {
    /// The value as it can be shown inside a one-line message: control
    /// characters escaped, very long values shortened.
    public var quotedForMessage: String { quotedForMessage(limit: 200) }

    /// Unicode's bidirectional formatting characters (marks, embeddings, overrides, isolates).
    static let bidiControls: Set<UInt32> = [
        0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069
    ]

    public func quotedForMessage(limit: Int) -> String {
        var out = ""
        for scalar in unicodeScalars.prefix(limit) {
            switch scalar {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{1b}": out += "\\e"
            case _ where scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value):
                out += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
            case _ where String.bidiControls.contains(scalar.value):
                // (right-to-left overrides and isolates would reorder what is shown after them)
                out += "\\u" + String(scalar.value, radix: 16).leftPadded(to: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        if unicodeScalars.count > limit { out += "…" }
        return out
    }

    /// The text for a terminal or any other display for people: every C0
    /// and C1 control character, DEL and bidirectional formatting character
    /// made visible (`\e`, `\x07`, `\n`, `\u202e` …),
    /// so log content or an alert can never move the cursor, retitle the
    /// window or hide what came before. Nothing is shortened. (`--json`
    /// output keeps the exact text, escaped as JSON.)
    public var escapedForTerminal: String { quotedForMessage(limit: Int.max) }

    /// The text for a terminal: like `quotedForMessage`, but newlines stay
    /// (multi-line commands are shown as written) and nothing is shortened.
    public var displayText: String {
        split(separator: "\n", omittingEmptySubsequences: false).map { String($0).quotedForMessage(limit: Int.max) }
            .joined(separator: "\n")
    }

    func leftPadded(to width: Int, with c: Character = "0") -> String {
        count >= width ? self : String(repeating: c, count: width - count) + self
    }
}

extension SQLTextEnum {
    /// The case named `text`; any other text is bad input naming `what` and
    /// listing the cases (`invalid concurrency 'sometimes': expected forbid, queue, allow, replace`).
    public init(text: String, what: String) throws(OctoError) {
        guard let value = Self(rawValue: text) else {
            throw OctoError.invalid(what, text, expected: Self.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self = value
    }
}
