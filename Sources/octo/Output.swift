import OctoCore

#if canImport(Glibc)
    import Glibc
#endif

/// Printing: results on stdout, diagnostics on stderr, JSON for scripts.
enum Output {
    static func line(_ s: String) { print(s) }

    /// A value as it is stored (a setting, a cursor): exact into a pipe or a file, for scripts; on a terminal
    /// with its control characters made visible (a value must not move the cursor or retitle the window).
    static func value(_ s: String) { print(isatty(1) == 1 ? s.escapedForTerminal : s) }

    /// `octo: message` on stderr, one line, control characters made visible (a message may quote a value a
    /// user or a server sent).
    static func error(_ s: String) { writeStderr("octo: " + s.escapedForTerminal + "\n") }

    /// A program's line for stderr: exact into a pipe or a file (it is kept there in place of the database), with
    /// its control characters made visible on a terminal.
    static func safe(_ s: String) -> String { isatty(2) == 1 ? s.escapedForTerminal : s }

    /// `octo: warning: message` on stderr, as `error`.
    static func warning(_ s: String) { writeStderr("octo: warning: " + s.escapedForTerminal + "\n") }

    /// `bytes` on stdout as they are, in as few write(2) calls as the pipe takes (after what stdio holds).
    static func raw(_ bytes: [UInt8]) throws {
        flush()
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw OctoError.failure("cannot write to stdout (errno \(errno))") }
            done += n
        }
    }

    /// Flushes every stdio stream (stdout is block-buffered inside a pipe).
    static func flush() { fflush(nil) }

    /// stderr is written unbuffered with write(2), in one call per message so
    /// that lines from concurrent processes do not interleave mid-line.
    static func writeStderr(_ s: String) {
        var s = s
        s.withUTF8 { buf in _ = Glibc.write(2, buf.baseAddress, buf.count) }
    }

    /// `value` as one JSON document on stdout (see `JSON.text`).
    static func json<T: Encodable>(_ value: T) throws { print(try JSON.text(value)) }
}

/// Left-aligned columns for a terminal.
struct Table {
    let headers: [String]
    var rows: [[String]] = []

    init(_ headers: [String]) { self.headers = headers }

    /// A row; its cells are escaped for the terminal (a cell may hold what a job printed or a user typed).
    mutating func add(_ row: [String]) { rows.append(row.map(\.escapedForTerminal)) }

    func render() -> String {
        var widths = headers.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            var s = ""
            for (i, c) in cells.enumerated() {
                s += i == cells.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count + 2)
            }
            return s
        }
        var out = line(headers)
        for r in rows { out += "\n" + line(r) }
        return out
    }
}

/// `1.234s`, `2m03s`, `1h02m`: a run's duration for people.
func humanDuration(_ seconds: Double) -> String {
    if seconds < 60 {
        return String(Int(seconds * 1000) / 1000) + "." + String(Int(seconds * 1000) % 1000 + 1000).dropFirst() + "s"
    }
    let s = Int(seconds)
    if s < 3600 { return "\(s / 60)m" + String(s % 60 + 100).dropFirst() + "s" }
    return "\(s / 3600)h" + String(s / 60 % 60 + 100).dropFirst() + "m"
}
