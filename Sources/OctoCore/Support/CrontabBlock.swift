/// The block of octo lines in a user's crontab, between two marker lines.
/// Installing replaces the block (or appends it); uninstalling removes it;
/// every other byte of the crontab stays as it was.
public enum CrontabBlock {
    public static let begin = "# >>> octo: managed by `octo register --install-crontab`; edits here are replaced >>>"
    public static let end = "# <<< octo <<<"

    /// The reference lines (as in crontab.example): schedule, then the octo
    /// subcommands the line runs, joined by `&&`.
    public static let reference: [(schedule: String, commands: [[String]])] = [
        ("* * * * *", [["register"]]),
        ("* * * * *", [["produce"], ["consume"]]),
        ("* * * * *", [["monitor"]]),
        ("*/5 * * * *", [["cursor", "sync"]])
    ]

    /// The block for a binary at `binary`, each octo call carrying `options`
    /// (e.g. `--machine w1 --defaults-file /etc/octo/my.cnf`) and preceded by
    /// the `environment` assignments (`OCTO_STATE_DIR=/srv/octo`). Lines that need
    /// a subcommand `available` lacks are left out, so cron never runs a
    /// command this octo does not have. Each word is quoted for /bin/sh and
    /// its `%` escaped (cron turns a bare `%` into a newline). A word with a
    /// control character (a newline would be a crontab line of its own) is
    /// refused: bad input, exit 2.
    public static func render(
        binary: String, options: [String], environment: [(name: String, value: String)] = [], available: Set<String>
    ) throws(OctoError) -> String {
        for word in [binary] + options + environment.map(\.value)
        where word.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw OctoError.usage(
                "cannot put '\(word.escapedForTerminal)' in a crontab: it holds a control character (a newline would start a crontab line of its own)"
            )
        }
        var lines = [begin]
        for (schedule, commands) in reference where commands.allSatisfy({ available.contains($0[0]) }) {
            // an assignment's name stays outside the quotes, or /bin/sh takes the word for a command
            let assignments = environment.map { $0.name + "=" + shellQuote($0.value) }
            let calls = commands.map {
                (assignments + ([binary] + $0 + options).map(shellQuote)).map { $0.replacingPercent() }
                    .joined(separator: " ")
            }
            lines.append(schedule + " " + calls.joined(separator: " && "))
        }
        lines.append(end)
        return lines.joined(separator: "\n") + "\n"
    }

    /// `crontab` with the block put in place of the old one, or appended.
    /// Throws, changing nothing, when the markers do not pair (see `split`).
    public static func install(_ block: String, into crontab: String) throws(OctoError) -> String {
        if let (before, after) = try split(crontab) { return before + block + after }
        var base = crontab
        if !base.isEmpty && !base.hasSuffix("\n") { base += "\n" }
        return base + block
    }

    /// The block in `crontab` (marker lines included), nil if it has none.
    public static func installed(in crontab: String) throws(OctoError) -> String? {
        guard let (before, after) = try split(crontab) else { return nil }
        return String(crontab.dropFirst(before.count).dropLast(after.count))
    }

    /// `crontab` without the block (unchanged if it has none). Throws,
    /// changing nothing, when the markers do not pair.
    public static func uninstall(from crontab: String) throws(OctoError) -> String {
        guard let (before, after) = try split(crontab) else { return crontab }
        return before + after
    }

    /// The text before the begin marker line and after the end marker line;
    /// nil when there is no block. Markers that do not pair — a begin without
    /// its end, an end without its begin, two blocks — are an error: guessing
    /// where the block ends would replace or delete the user's own lines.
    static func split(_ crontab: String) throws(OctoError) -> (String, String)? {
        let lines = crontab.split(separator: "\n", omittingEmptySubsequences: false)
        let begins = lines.indices.filter { lines[$0] == begin }
        let ends = lines.indices.filter { lines[$0] == end }
        if begins.isEmpty && ends.isEmpty { return nil }
        guard begins.count == 1, ends.count == 1, let b = begins.first, let e = ends.first, b < e else {
            throw OctoError.failure(
                "the crontab's octo markers do not pair (\(begins.count) begin, \(ends.count) end line(s)); "
                    + "left it unchanged: fix it with crontab -e (the block starts with '\(begin)' and ends with '\(end)')"
            )
        }
        let before = lines[..<b].map { $0 + "\n" }.joined()
        let after = lines[(e + 1)...].joined(separator: "\n")
        return (before, after)
    }

    /// A word for /bin/sh: unchanged if it is safe, else single-quoted.
    /// (In a crontab, also escape its `%`: `replacingPercent`.)
    public static func shellQuote(_ s: String) -> String {
        let safe =
            !s.isEmpty
            && s.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || "0123456789/._-=:,@+".unicodeScalars.contains($0))
            }
        return safe
            ? s : "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}

extension String {
    /// Escaped for a crontab command: `%` as `\%` and `\` as `\\` (cron turns a
    /// bare `%` into a newline, and reads a backslash before `%` or `\` as an escape).
    func replacingPercent() -> String {
        var out = ""
        for c in self { if c == "%" || c == "\\" { out += "\\" + String(c) } else { out.append(c) } }
        return out
    }
}
