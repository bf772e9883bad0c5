/// The YAML file of `octo sh export` and `octo sh apply`.
///
/// octo reads and writes a small, strict subset of YAML — enough for a list
/// of jobs — instead of linking a YAML library that would pull all of
/// Foundation into every start of octo:
///
/// ```yaml
/// jobs:
///   - name: backup
///     command: "pg_dump app | gzip > /backup/app.gz"
///     schedule: "30 2 * * *"
///     retries: 2
///   - name: report
///     command: |
///       cd /srv/report
///       ./build --all
/// ```
///
/// Accepted: `#` comments, one top-level key `jobs` holding a sequence of
/// mappings; values that are plain scalars, `"double-quoted"` (with `\\ \" \n
/// \t \r \0 \xNN \uNNNN` escapes), `'single-quoted'` (`''` for a quote) or
/// block scalars `|`, `|-` and `|+`. Keys are the job attribute names
/// (`retry_delay`); an unknown key, a duplicate key or job, or anything else
/// is an error naming the file and line.
public enum JobFile {
    /// One job from a file and the attributes the file gave explicitly.
    public struct Entry: Sendable {
        public var job: Job
        public var given: Set<String>
        public let line: Int
    }

    // MARK: - Writing

    /// All `jobs` as YAML, by name. Attributes at their default are left out,
    /// except name, command, schedule and owner.
    public static func render(_ jobs: [Job]) -> String {
        var out = "# octo jobs — apply with: octo sh apply FILE\njobs:\n"
        let defaults = Job(name: "", command: "")
        for job in jobs.sorted(by: { $0.name < $1.name }) {
            var first = true
            for a in Job.attributes {
                let v = a.get(job)
                let always = ["name", "command", "schedule", "owner"].contains(a.name)
                guard always || v != a.get(defaults) else { continue }
                out +=
                    (first ? "  - " : "    ") + a.name + ": "
                    + scalar(v, numeric: ["max_parallel", "retries"].contains(a.name) || a.name == "paused") + "\n"
                first = false
            }
        }
        return out
    }

    /// A value as a YAML scalar: double-quoted unless it is a plain number or boolean we wrote ourselves.
    public static func scalar(_ v: String, numeric: Bool) -> String {
        if numeric { return v }
        // backslash and quote first; control characters as in messages (\n, \t, \r, \xNN)
        var escaped = ""
        for u in v.unicodeScalars {
            if u == "\\" || u == "\"" { escaped += "\\" }
            escaped.unicodeScalars.append(u)
        }
        return "\"" + escaped.quotedForMessage(limit: Int.max) + "\""
    }

    // MARK: - Reading

    /// The jobs in `text`, each checked with the attribute rules; the first
    /// problem throws a usage error naming `path` and the line.
    public static func parse(_ text: String, path: String) throws(OctoError) -> [Entry] {
        let lines = text.fileLines.map(String.init)
        var p = Parser(lines: lines, path: path)
        while p.i < lines.count { try p.line() }
        try p.finishJob()
        guard p.sawJobs else { throw OctoError(.usage, "\(path): expected 'jobs:' with a list of jobs") }
        return p.entries
    }

    /// The reader's state, line by line.
    private struct Parser {
        let lines: [String]
        let path: String
        var entries: [Entry] = []
        /// name → line of its first definition (a linear scan made 50,000 jobs quadratic)
        var lineOfJob: [String: Int] = [:]
        var sawJobs = false
        var i = 0
        var itemIndent = -1
        var keyIndent = -1
        /// The job being read: its fields and the line of its `-`.
        var current: (fields: [(key: String, value: String, line: Int)], line: Int)?

        init(lines: [String], path: String) { (self.lines, self.path) = (lines, path) }

        func fail(_ n: Int, _ why: String) -> OctoError { OctoError(.usage, "\(path) line \(n + 1): \(why)") }

        /// Reads the line at `i` (and a block scalar's lines after it).
        mutating func line() throws(OctoError) {
            let raw = lines[i]
            let indent = raw.prefix { $0 == " " }.count
            let body = raw.dropFirst(indent)
            if body.isEmpty || body.hasPrefix("#") {
                i += 1
                return
            }
            if raw.contains("\t") && raw.prefix(while: { $0 == " " || $0 == "\t" }).contains("\t") {
                throw fail(i, "tabs are not allowed for indentation")
            }
            if !sawJobs {
                guard indent == 0, stripComment(body).trimmingWhitespace() == "jobs:" else {
                    throw fail(i, "expected 'jobs:' as the top-level key")
                }
                sawJobs = true
                i += 1
                return
            }
            var rest = Substring(body)
            var keyColumn = indent
            if body.hasPrefix("- ") || body == "-" {
                if itemIndent < 0 { itemIndent = indent }
                guard indent == itemIndent else { throw fail(i, "a list item at an unexpected indentation") }
                try finishJob()
                current = ([], i)
                rest = body.dropFirst(1).drop(while: { $0 == " " })
                keyColumn = indent + (body.count - rest.count)
                keyIndent = rest.isEmpty ? -1 : keyColumn
                if rest.isEmpty {
                    i += 1
                    return
                }
            } else {
                guard current != nil, indent > itemIndent else {
                    throw fail(i, "expected a list item '- name: …' under 'jobs:'")
                }
                if keyIndent < 0 { keyIndent = indent }
                guard indent == keyIndent else { throw fail(i, "a key at an unexpected indentation") }
            }
            try field(rest, keyColumn: keyColumn)
        }

        /// Reads `key: value` from `rest` (a block scalar's lines follow the key's line).
        mutating func field(_ rest: Substring, keyColumn: Int) throws(OctoError) {
            guard let colon = rest.firstIndex(of: ":") else { throw fail(i, "expected 'key: value'") }
            let key = String(rest[..<colon]).trimmingWhitespace()
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0 == "_" }) else {
                throw fail(i, "'\(key.quotedForMessage)' is not a key")
            }
            let valueText = rest[rest.index(after: colon)...].drop(while: { $0 == " " })
            let keyLine = i
            let value: String
            if valueText.hasPrefix("|") {
                let mode = stripComment(valueText).trimmingWhitespace()
                guard ["|", "|-", "|+"].contains(mode) else {
                    throw fail(i, "block scalar '\(mode)' is not supported (use |, |- or |+)")
                }
                value = blockScalar(mode: mode, keyColumn: keyColumn)
            } else {
                let n = i
                value = try parseScalar(valueText, fail: { fail(n, $0) })
                i += 1
            }
            current!.fields.append((key, value, keyLine))
        }

        /// The lines after the key's, indented deeper than `keyColumn`, kept as `mode` says (`|`, `|-`, `|+`).
        mutating func blockScalar(mode: String, keyColumn: Int) -> String {
            var block: [String] = []
            var blockIndent = -1
            var j = i + 1
            while j < lines.count {
                let l = lines[j]
                let li = l.prefix { $0 == " " }.count
                if l.trimmingWhitespace().isEmpty {
                    block.append("")
                    j += 1
                    continue
                }
                if blockIndent < 0 {
                    guard li > keyColumn else { break }
                    blockIndent = li
                }
                guard li >= blockIndent else { break }
                block.append(String(l.dropFirst(blockIndent)))
                j += 1
            }
            i = j
            var trailing = 0
            while block.last == "" {
                block.removeLast()
                trailing += 1
            }
            let joined = block.joined(separator: "\n")
            switch mode {
            case "|-": return joined
            case "|+": return joined + String(repeating: "\n", count: trailing + 1)
            default: return joined + "\n"
            }
        }

        /// Checks the job read so far and adds it to `entries`.
        mutating func finishJob() throws(OctoError) {
            guard let c = current else { return }
            current = nil
            var job = Job(name: "", command: "")
            var given: Set<String> = []
            for (k, v, line) in c.fields {
                guard let a = Job.attribute(k) else {
                    throw fail(
                        line,
                        "unknown key '\(k.quotedForMessage)' (known: \(Job.attributes.map(\.name).joined(separator: ", ")))"
                    )
                }
                guard !given.contains(k) else { throw fail(line, "key '\(k)' appears twice in one job") }
                do { try a.set(&job, v) } catch { throw fail(line, error.message) }
                given.insert(k)
            }
            guard given.contains("name") else { throw fail(c.line, "a job without a name") }
            guard given.contains("command") else { throw fail(c.line, "job '\(job.name)' has no command") }
            if let first = lineOfJob[job.name] {
                throw fail(c.line, "job '\(job.name)' is defined twice (first on line \(first + 1))")
            }
            lineOfJob[job.name] = c.line
            entries.append(Entry(job: job, given: given, line: c.line))
        }
    }

    static func stripComment(_ s: Substring) -> Substring {
        if let r = s.firstRange(of: " #") { return s[..<r.lowerBound] }
        return s
    }

    static func parseScalar(_ text: Substring, fail: (String) -> OctoError) throws(OctoError) -> String {
        if text.hasPrefix("\"") {
            var out = ""
            var it = text.dropFirst().unicodeScalars.makeIterator()
            while let c = it.next() {
                if c == "\"" {
                    var tail = ""
                    while let t = it.next() { tail.unicodeScalars.append(t) }
                    let t = tail.trimmingWhitespace()
                    guard t.isEmpty || t.hasPrefix("#") else { throw fail("unexpected text after a quoted value") }
                    return out
                }
                if c == "\\" {
                    guard let e = it.next() else { break }
                    switch e {
                    case "\\": out += "\\"
                    case "\"": out += "\""
                    case "/": out += "/"
                    case "n": out += "\n"
                    case "t": out += "\t"
                    case "r": out += "\r"
                    case "0": out += "\u{0}"
                    case "e": out += "\u{1b}"  // YAML's escape for ESC, which `export` writes
                    case "a": out += "\u{7}"
                    case "b": out += "\u{8}"
                    case "v": out += "\u{b}"
                    case "f": out += "\u{c}"
                    case "x", "u":
                        var hex = ""
                        for _ in 0..<(e == "x" ? 2 : 4) { if let h = it.next() { hex.unicodeScalars.append(h) } }
                        guard let v = UInt32(hex, radix: 16), let u = Unicode.Scalar(v) else {
                            throw fail("bad escape '\\\(e)\(hex)'")
                        }
                        out.unicodeScalars.append(u)
                    default: throw fail("unknown escape '\\\(e)' in a double-quoted value")
                    }
                    continue
                }
                out.unicodeScalars.append(c)
            }
            throw fail("a double-quoted value is not closed on its line")
        }
        if text.hasPrefix("'") {
            var out = ""
            var rest = text.dropFirst()
            while let q = rest.firstIndex(of: "'") {
                out += rest[..<q]
                rest = rest[rest.index(after: q)...]
                if rest.hasPrefix("'") {
                    out += "'"
                    rest = rest.dropFirst()
                    continue
                }
                let t = rest.trimmingWhitespace()
                guard t.isEmpty || t.hasPrefix("#") else { throw fail("unexpected text after a quoted value") }
                return out
            }
            throw fail("a single-quoted value is not closed on its line")
        }
        let plain = stripComment(text).trimmingWhitespace()
        if let f = plain.first, "[{&*!%@`>".contains(f) {
            throw fail(
                "'\(plain.quotedForMessage)' needs quotes (octo's YAML has no flow collections, anchors or tags)")
        }
        return plain == "~" || plain == "null" ? "" : plain
    }
}
