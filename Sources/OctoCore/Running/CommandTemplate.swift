/// The placeholders of a job's command.
///
/// `{cursor}` and `{fire_time}` are replaced by a reference to the variables
/// `OCTO_CURSOR` and `OCTO_FIRE_TIME`, quoted for where they stand in the
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
    public static let placeholders = ["{cursor}": "OCTO_CURSOR", "{fire_time}": "OCTO_FIRE_TIME"]

    /// Where the tracker stands: the innermost open quote or substitution.
    private enum Context { case plain, single, double, substitution(depth: Int), backquote, ansiC }

    /// A here-document whose body starts at the next newline.
    private struct HereDocument {
        var delimiter: String
        var quoted: Bool
        var stripTabs: Bool
    }

    public static func substitute(_ command: String) -> String {
        guard command.contains("{") else { return command }
        let c = Array(command)
        var out = ""
        var stack: [Context] = [.plain]
        var i = 0
        var heredocs: [HereDocument] = []
        var wordStart = true  // the next character starts a word (a `#` there starts a comment)
        func at(_ k: Int) -> Character? { k < c.count ? c[k] : nil }
        /// Copies a here-document's body and its delimiter line, from `i` (the start of the body's first line).
        func body(_ h: HereDocument) {
            while i < c.count {
                var end = i
                while end < c.count, c[end] != "\n" { end += 1 }
                let line = String(c[i..<end])
                let next = min(c.count, end + 1)
                if (h.stripTabs ? String(line.drop(while: { $0 == "\t" })) : line) == h.delimiter {
                    out += String(c[i..<next])
                    i = next
                    return
                }
                var k = i
                while k < end {
                    if !h.quoted, c[k] == "{",
                        let (p, v) = placeholders.first(where: { String(c[k..<min(end, k + $0.key.count)]) == $0.key })
                    {
                        out += "${\(v)}"
                        k += p.count
                    } else if !h.quoted, c[k] == "\\", k + 1 < end {
                        out.append(c[k])
                        out.append(c[k + 1])
                        k += 2
                    } else {
                        out.append(c[k])
                        k += 1
                    }
                }
                out += String(c[end..<next])
                i = next
            }
        }
        while i < c.count {
            let top = stack.last!
            if c[i] == "\n", !heredocs.isEmpty, case .plain = top {
                out.append("\n")
                i += 1
                for h in heredocs { body(h) }
                heredocs.removeAll()
                wordStart = true
                continue
            }
            if c[i] == "{",
                let (placeholder, variable) = placeholders.first(where: {
                    String(c[i..<min(c.count, i + $0.key.count)]) == $0.key
                })
            {
                switch top {
                case .plain, .substitution, .backquote: out += "\"$\(variable)\""
                case .double: out += "${\(variable)}"
                case .single: out += "'\"$\(variable)\"'"
                case .ansiC: out += "'\"$\(variable)\"$'"
                }
                i += placeholder.count
                continue
            }
            let ch = c[i]
            out.append(ch)
            i += 1
            let startedWord = wordStart
            wordStart = ch.isWhitespace || ";&|()<>".contains(ch)
            switch top {
            case .single:
                if ch == "'" { stack.removeLast() }
            case .ansiC:
                if ch == "\\", let next = at(i) {
                    out.append(next)
                    i += 1
                } else if ch == "'" {
                    stack.removeLast()
                }
            case .double:
                if ch == "\\", let next = at(i) {
                    out.append(next)
                    i += 1
                } else if ch == "\"" {
                    stack.removeLast()
                } else if ch == "$", at(i) == "(" {
                    out.append("(")
                    i += 1
                    stack.append(.substitution(depth: 0))
                } else if ch == "`" {
                    stack.append(.backquote)
                }
            case .plain, .substitution, .backquote:
                if ch == "\\", let next = at(i) {
                    out.append(next)
                    i += 1
                    wordStart = false
                    continue
                }
                if ch == "$", at(i) == "'" {
                    out.append("'")
                    i += 1
                    stack.append(.ansiC)
                    continue
                }
                if ch == "'" {
                    stack.append(.single)
                    continue
                }
                if ch == "<", at(i) == "<", at(i + 1) != "<", case .plain = top {
                    // a here-document: its delimiter word now, its body from the next newline
                    out.append("<")
                    i += 1
                    let stripTabs = at(i) == "-"
                    if stripTabs {
                        out.append("-")
                        i += 1
                    }
                    while let b = at(i), b == " " || b == "\t" {
                        out.append(b)
                        i += 1
                    }
                    var word = ""
                    var quoted = false
                    while let w = at(i), !w.isWhitespace, !";&|()<>".contains(w) {
                        out.append(w)
                        i += 1
                        if w == "'" || w == "\"" || w == "\\" { quoted = true } else { word.append(w) }
                    }
                    if !word.isEmpty {
                        heredocs.append(HereDocument(delimiter: word, quoted: quoted, stripTabs: stripTabs))
                    }
                    continue
                }
                if ch == "\"" {
                    stack.append(.double)
                    continue
                }
                if ch == "$", at(i) == "(" {
                    out.append("(")
                    i += 1
                    stack.append(.substitution(depth: 0))
                    continue
                }
                if ch == "`" {
                    if case .backquote = top { stack.removeLast() } else { stack.append(.backquote) }
                    continue
                }
                if case .substitution(let depth) = top {
                    if ch == "(" { stack[stack.count - 1] = .substitution(depth: depth + 1) }
                    if ch == ")" {
                        if depth == 0 {
                            stack.removeLast()
                        } else {
                            stack[stack.count - 1] = .substitution(depth: depth - 1)
                        }
                    }
                }
                // a comment: `#` starting a word runs to the end of the line, quotes in it open nothing
                if ch == "#", startedWord {
                    while i < c.count, c[i] != "\n" {
                        out.append(c[i])
                        i += 1
                    }
                }
            }
        }
        return out
    }
}
