#if canImport(Glibc)
    import Glibc
#endif

/// The MariaDB option files libmariadb reads, parsed the same way, so that
/// octo can (1) give `[octo]` precedence over the client groups whatever their
/// order in a file, (2) warn about a password in a file other users can read,
/// (3) reject a malformed file with a message naming the file and line, and
/// (4) show in `octo doctor` where the settings came from.
///
/// libmariadb still reads the files itself (every option it knows, TLS
/// included); octo only re-asserts the connection keys of `[octo]`.
public struct OptionFiles: Sendable {
    /// One `key = value` line from a group octo reads.
    public struct Entry: Sendable {
        public let file: String
        public let group: String
        /// Normalised: lower case, `_` written as `-`.
        public let key: String
        public let value: String?
    }

    /// The groups libmariadb reads for octo, in the order they are listed here.
    public static let clientGroups = ["client", "client-server", "client-mariadb"]
    public static let octoGroup = "octo"

    /// Every file that was read, in reading order.
    public private(set) var files: [String] = []
    /// Every entry of a relevant group, in reading order (later wins).
    public private(set) var entries: [Entry] = []

    /// Reads `defaultsFile` alone when given (like `--defaults-file`),
    /// otherwise the standard locations: `/etc/my.cnf`, `/etc/mysql/my.cnf`,
    /// `$MARIADB_HOME/my.cnf` (or `$MYSQL_HOME`), `~/.my.cnf`.
    public init(defaultsFile: String?, environment: [String: String]) throws(OctoError) {
        if let f = defaultsFile {
            guard access(f, R_OK) == 0 else {
                throw OctoError.usage(
                    "option file '\(f.quotedForMessage)' \(access(f, F_OK) == 0 ? "is not readable" : "does not exist")"
                )
            }
            try read(f, depth: 0)
            return
        }
        var dirs = ["/etc", "/etc/mysql"]
        if let home = environment["MARIADB_HOME"] ?? environment["MYSQL_HOME"], !dirs.contains(home) {
            dirs.append(home)
        }
        for d in dirs where access(d + "/my.cnf", R_OK) == 0 { try read(d + "/my.cnf", depth: 0) }
        if let home = environment["HOME"], access(home + "/.my.cnf", R_OK) == 0 {
            try read(home + "/.my.cnf", depth: 0)
        }
    }

    /// The value of `key` that octo should use: the last one in `[octo]`, else
    /// the last one in the client groups; nil if no file sets it.
    public func value(_ key: String) -> String? {
        octoValue(key) ?? entries.last(where: { $0.key == key && $0.group != OptionFiles.octoGroup })?.value
    }

    /// The last value of `key` in an `[octo]` group.
    public func octoValue(_ key: String) -> String? {
        entries.last(where: { $0.key == key && $0.group == OptionFiles.octoGroup })?.value
    }

    /// Files that hold a password in a group octo reads and that users other
    /// than the owner can read (group or world read bit).
    public var exposedPasswordFiles: [(file: String, mode: UInt32)] {
        var seen: Set<String> = []
        var out: [(String, UInt32)] = []
        for e in entries where e.key == "password" && !seen.contains(e.file) {
            seen.insert(e.file)
            var st = stat()
            if stat(e.file, &st) == 0, st.st_mode & 0o044 != 0 { out.append((e.file, UInt32(st.st_mode & 0o777))) }
        }
        return out
    }

    // MARK: - Parsing (the format of libmariadb's ma_default.c)

    private mutating func read(_ path: String, depth: Int) throws(OctoError) {
        guard depth < 16 else { throw OctoError.usage("option file '\(path)': !include nested too deeply") }
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT != S_IFDIR, let text = readTextFile(path) else {
            // a file named on its own (--defaults-file, or a standard location that is there) that is a directory
            // or cannot be read is refused, as libmariadb refuses it (a pipe, /dev/stdin, is read); an !include
            // that cannot be read is skipped
            guard depth == 0 else { return }
            throw OctoError.usage("option file '\(path.quotedForMessage)' cannot be read as a file")
        }
        files.append(path)
        var group: String?
        var relevant = false
        for (n, rawLine) in text.fileLines.enumerated() {
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("!") {
                let parts = line.dropFirst().split(separator: " ", maxSplits: 1).map { String($0).trimmingWhitespace() }
                guard parts.count == 2 else { continue }
                if parts[0] == "include" {
                    try read(parts[1], depth: depth + 1)
                } else if parts[0] == "includedir" {
                    for f in listDirectory(parts[1]).filter({ $0.hasSuffix(".cnf") }).sorted() {
                        let full = parts[1].hasSuffix("/") ? parts[1] + f : parts[1] + "/" + f
                        if access(full, R_OK) == 0 { try read(full, depth: depth + 1) }
                    }
                }
                continue
            }
            if line.hasPrefix("[") {
                guard let close = line.firstIndex(of: "]") else {
                    throw OctoError.usage(
                        "option file '\(path)' line \(n + 1): group header '\(line.quotedForMessage)' has no closing ']'"
                    )
                }
                let name = line[line.index(after: line.startIndex)..<close].trimmingWhitespace()
                group = name
                relevant = OptionFiles.clientGroups.contains(name) || name == OptionFiles.octoGroup
                continue
            }
            guard let g = group else {
                throw OctoError.usage(
                    "option file '\(path)' line \(n + 1): '\(line.quotedForMessage)' comes before any [group]")
            }
            guard relevant else { continue }
            let key: String
            var value: String?
            if let eq = line.firstIndex(of: "=") {
                key = String(line[..<eq]).trimmingWhitespace()
                value = OptionFiles.unquote(String(line[line.index(after: eq)...]).trimmingWhitespace())
            } else {
                key = line
            }
            entries.append(Entry(file: path, group: g, key: OptionFiles.normalise(key), value: value))
        }
    }

    static func normalise(_ key: String) -> String {
        String(key.lowercased().map { $0 == "_" ? "-" : $0 })
    }

    /// Strips one pair of surrounding quotes and resolves `\n \t \r \b \s \" \' \\`.
    static func unquote(_ v: String) -> String {
        var chars = Array(v)
        if let f = chars.first, f == "'" || f == "\"" {
            chars.removeFirst()
            if let l = chars.last, l == "'" || l == "\"" { chars.removeLast() }
        }
        var out = ""
        var i = 0
        while i < chars.count {
            if chars[i] == "\\", i + 1 < chars.count {
                i += 1
                switch chars[i] {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "b": out.append("\u{8}")
                case "s": out.append(" ")
                case "\"", "'", "\\": out.append(chars[i])
                default:
                    out.append("\\")
                    out.append(chars[i])
                }
            } else {
                out.append(chars[i])
            }
            i += 1
        }
        return out
    }
}

extension StringProtocol {
    /// Without leading and trailing white space (newlines included).
    public func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[first...last])
        return String(out)
    }
}
