/// The placeholders of a job's command.
///
/// `{cursor}`, `{fire_time}` and `{date}` are replaced by a reference to the variables
/// `OCTO_CURSOR`, `OCTO_FIRE_TIME` and `OCTO_LOGICAL_DATE`, quoted for where they stand in the
/// job's own shell: bare they become `"$OCTO_CURSOR"`, inside double quotes
/// `${OCTO_CURSOR}`, inside single quotes `'"$OCTO_CURSOR"'`; inside `$(…)`
/// and backquotes as bare (nested quotes are followed: `"$(printf %s
/// "{cursor}")"`); inside a here-document `${OCTO_CURSOR}` (a quoted
/// delimiter, `<<'EOF'`, expands nothing: the placeholder stays as written);
/// `$'…'` and backslash escapes are followed; a `#` comment is left alone
/// (its apostrophes open nothing).
/// The shell expands a variable to its exact value and never reads an
/// expansion as code, so a cursor like `x'; rm -rf ~ #` reaches the job's
/// commands as that text, whatever the command's quoting.
///
/// What this cannot make safe: a placeholder inside a string that *another*
/// shell runs as code — `sh -c 'echo {cursor}'`, `bash -c "…{cursor}"`,
/// `ssh host '…'`, `su -c '…'`. The job's shell expands the value into that
/// string, and the inner shell parses it. There, write `"$OCTO_CURSOR"`
/// inside the inner script (single-quoted for the outer shell): every child
/// inherits the variable and the inner shell expands it as data. Nor inside
/// `$((…))` (bash evaluates a variable's value there as an expression) or
/// after a `case` pattern's `)` inside `$(…)`, which the tracker takes for
/// the end of the substitution.
public enum CommandTemplate {
    public static let placeholders = [
        "{cursor}": "OCTO_CURSOR", "{fire_time}": "OCTO_FIRE_TIME", "{date}": "OCTO_LOGICAL_DATE"
    ]

    public static func substitute(_ command: String) -> String {
        guard command.contains("{") else { return command }
        var t = Tracker(Array(command))
        t.run()
        return t.out
    }

    /// Where the tracker stands: the innermost open quote or substitution.
    private enum Context {
        case plain, single, double
        case substitution(depth: Int)
        case backquote, ansiC
    }

    /// A here-document whose body starts at the next newline.
    private struct HereDocument {
        var delimiter: String
        var quoted: Bool
        var stripTabs: Bool
    }

    /// Copies the command to `out` character by character, following its
    /// quoting, and replaces each placeholder as it stands.
    private struct Tracker {
        let c: [Character]
        var out = ""
        var stack: [Context] = [.plain]
        var i = 0
        var heredocs: [HereDocument] = []
        /// The next character starts a word (a `#` there starts a comment).
        var wordStart = true

        init(_ c: [Character]) { self.c = c }

        func at(_ k: Int) -> Character? { k < c.count ? c[k] : nil }

        /// The placeholder starting at `k` (before `end`), with its variable.
        func placeholder(at k: Int, end: Int) -> (text: String, variable: String)? {
            guard c[k] == "{" else { return nil }
            return placeholders.first(where: { String(c[k..<min(end, k + $0.key.count)]) == $0.key })
                .map { ($0.key, $0.value) }
        }

        mutating func copy(_ n: Int = 1) {
            for _ in 0..<n where i < c.count {
                out.append(c[i])
                i += 1
            }
        }

        mutating func run() {
            while i < c.count {
                let top = stack.last!
                if c[i] == "\n", !heredocs.isEmpty, case .plain = top {
                    copy()
                    for h in heredocs { body(h) }
                    heredocs.removeAll()
                    wordStart = true
                    continue
                }
                if let (text, variable) = placeholder(at: i, end: c.count) {
                    switch top {
                    case .plain, .substitution, .backquote: out += "\"$\(variable)\""
                    case .double: out += "${\(variable)}"
                    case .single: out += "'\"$\(variable)\"'"
                    case .ansiC: out += "'\"$\(variable)\"$'"
                    }
                    i += text.count
                    continue
                }
                let ch = c[i]
                copy()
                let startedWord = wordStart
                wordStart = ch.isWhitespace || ";&|()<>".contains(ch)
                switch top {
                case .single:
                    if ch == "'" { stack.removeLast() }
                case .ansiC:
                    if ch == "\\", at(i) != nil { copy() } else if ch == "'" { stack.removeLast() }
                case .double:
                    inDoubleQuotes(ch)
                case .plain, .substitution, .backquote:
                    unquoted(ch, top, startedWord: startedWord)
                }
            }
        }

        /// After `ch`, copied inside double quotes.
        mutating func inDoubleQuotes(_ ch: Character) {
            if ch == "\\", at(i) != nil {
                copy()
            } else if ch == "\"" {
                stack.removeLast()
            } else if ch == "$", at(i) == "(" {
                copy()
                stack.append(.substitution(depth: 0))
            } else if ch == "`" {
                stack.append(.backquote)
            }
        }

        /// After `ch`, copied outside quotes (at the top level, in `$(…)` or in backquotes).
        mutating func unquoted(_ ch: Character, _ top: Context, startedWord: Bool) {
            switch ch {
            case "\\" where at(i) != nil:
                copy()
                wordStart = false
            case "$" where at(i) == "'":
                copy()
                stack.append(.ansiC)
            case "$" where at(i) == "(":
                copy()
                stack.append(.substitution(depth: 0))
            case "'":
                stack.append(.single)
            case "\"":
                stack.append(.double)
            case "`":
                if case .backquote = top { stack.removeLast() } else { stack.append(.backquote) }
            case "<" where at(i) == "<" && at(i + 1) != "<":
                if case .plain = top { hereDocumentStart() }
            default:
                if case .substitution(let depth) = top, ch == "(" || ch == ")" {
                    if ch == "(" {
                        stack[stack.count - 1] = .substitution(depth: depth + 1)
                    } else if depth == 0 {
                        stack.removeLast()
                    } else {
                        stack[stack.count - 1] = .substitution(depth: depth - 1)
                    }
                }
                // a comment: `#` starting a word runs to the end of the line, quotes in it open nothing
                if ch == "#", startedWord {
                    while i < c.count, c[i] != "\n" { copy() }
                }
            }
        }

        /// After the first `<` of `<<`: copies the operator and the delimiter word; the body follows the next newline.
        mutating func hereDocumentStart() {
            copy()
            let stripTabs = at(i) == "-"
            if stripTabs { copy() }
            while let b = at(i), b == " " || b == "\t" { copy() }
            var word = ""
            var quoted = false
            while let w = at(i), !w.isWhitespace, !";&|()<>".contains(w) {
                copy()
                if w == "'" || w == "\"" || w == "\\" { quoted = true } else { word.append(w) }
            }
            if !word.isEmpty { heredocs.append(HereDocument(delimiter: word, quoted: quoted, stripTabs: stripTabs)) }
        }

        /// Copies a here-document's body and its delimiter line, from `i` (the start of the body's first line).
        mutating func body(_ h: HereDocument) {
            while i < c.count {
                var end = i
                while end < c.count, c[end] != "\n" { end += 1 }
                let line = String(c[i..<end])
                let next = min(c.count, end + 1)
                if (h.stripTabs ? String(line.drop(while: { $0 == "\t" })) : line) == h.delimiter {
                    copy(next - i)
                    return
                }
                while i < end {
                    if !h.quoted, let (text, variable) = placeholder(at: i, end: end) {
                        out += "${\(variable)}"
                        i += text.count
                    } else if !h.quoted, c[i] == "\\", i + 1 < end {
                        copy(2)
                    } else {
                        copy()
                    }
                }
                copy(next - i)
            }
        }
    }
}
