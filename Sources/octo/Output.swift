import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// Printing: results on stdout, diagnostics on stderr, JSON for scripts.
enum Output {
    static func line(_ s: String) { print(s) }

    /// `octo: message` on stderr.
    static func error(_ s: String) { writeStderr("octo: " + s + "\n") }

    /// `octo: warning: message` on stderr.
    static func warning(_ s: String) { writeStderr("octo: warning: " + s + "\n") }

    /// Flushes every stdio stream (stdout is block-buffered inside a pipe).
    static func flush() { fflush(nil) }

    /// stderr is written unbuffered with write(2), in one call per message so
    /// that lines from concurrent processes do not interleave mid-line.
    static func writeStderr(_ s: String) {
        var s = s
        s.withUTF8 { buf in _ = Glibc.write(2, buf.baseAddress, buf.count) }
    }

    /// `value` as one JSON document on stdout, keys sorted so output is stable.
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        print(String(decoding: data, as: UTF8.self))
    }
}
