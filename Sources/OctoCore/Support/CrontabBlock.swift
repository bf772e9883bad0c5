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
        ("*/5 * * * *", [["cursor", "sync"]]),
    ]

    /// The block for a binary at `binary`, each octo call carrying `options`
    /// (e.g. `--machine w1 --defaults-file /etc/octo/my.cnf`). Lines that need
    /// a subcommand `available` lacks are left out, so cron never runs a
    /// command this octo does not have.
    public static func render(binary: String, options: [String], available: Set<String>) -> String {
        var lines = [begin]
        for (schedule, commands) in reference where commands.allSatisfy({ available.contains($0[0]) }) {
            let calls = commands.map { ([binary] + $0 + options).map(shellQuote).joined(separator: " ") }
            lines.append(schedule + " " + calls.joined(separator: " && "))
        }
        lines.append(end)
        return lines.joined(separator: "\n") + "\n"
    }

    /// `crontab` with the block put in place of the old one, or appended.
    public static func install(_ block: String, into crontab: String) -> String {
        if let (before, after) = split(crontab) { return before + block + after }
        var base = crontab
        if !base.isEmpty && !base.hasSuffix("\n") { base += "\n" }
        return base + block
    }

    /// `crontab` without the block (unchanged if it has none).
    public static func uninstall(from crontab: String) -> String {
        guard let (before, after) = split(crontab) else { return crontab }
        return before + after
    }

    /// The text before the begin marker line and after the end marker line.
    static func split(_ crontab: String) -> (String, String)? {
        let lines = crontab.split(separator: "\n", omittingEmptySubsequences: false)
        guard let b = lines.firstIndex(where: { $0 == begin }),
              let e = lines[b...].firstIndex(where: { $0 == end }) else { return nil }
        let before = lines[..<b].map { $0 + "\n" }.joined()
        let after = lines[(e + 1)...].joined(separator: "\n")
        return (before, after)
    }

    /// A word for /bin/sh: unchanged if it is safe, else single-quoted.
    public static func shellQuote(_ s: String) -> String {
        let safe = !s.isEmpty && s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || "0123456789/._-=:,@+".unicodeScalars.contains($0)) }
        return safe ? s : "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}
