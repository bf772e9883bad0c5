/// The placeholders of a job's command.
///
/// `{cursor}` and `{fire_time}` are replaced by a reference to the variables
/// `OCTO_CURSOR` and `OCTO_FIRE_TIME`, quoted for where they stand in the
/// job's own shell: bare they become `"$OCTO_CURSOR"`, inside double quotes
/// `${OCTO_CURSOR}`, inside single quotes `'"$OCTO_CURSOR"'`; inside `$(…)`
/// and backquotes as bare (nested quotes are followed: `"$(printf %s
/// "{cursor}")"`); a `#` comment is left alone (its apostrophes open nothing).
/// The shell expands a variable to its exact value and never reads an
/// expansion as code, so a cursor like `x'; rm -rf ~ #` reaches the job's
/// commands as that text, whatever the command's quoting.
///
/// What this cannot make safe: a placeholder inside a string that *another*
/// shell runs as code — `sh -c 'echo {cursor}'`, `bash -c "…{cursor}"`,
/// `ssh host '…'`, `su -c '…'`. The job's shell expands the value into that
/// string, and the inner shell parses it. There, write `"$OCTO_CURSOR"`
/// inside the inner script (single-quoted for the outer shell): every child
/// inherits the variable and the inner shell expands it as data.
public enum CommandTemplate {
    public static let placeholders = ["{cursor}": "OCTO_CURSOR", "{fire_time}": "OCTO_FIRE_TIME"]

    /// Where the tracker stands: the innermost open quote or substitution.
    private enum Context { case plain, single, double, substitution(depth: Int), backquote }

    public static func substitute(_ command: String) -> String {
        guard command.contains("{") else { return command }
        let c = Array(command)
        var out = ""
        var stack: [Context] = [.plain]
        var i = 0
        func at(_ k: Int) -> Character? { k < c.count ? c[k] : nil }
        while i < c.count {
            let top = stack.last!
            if c[i] == "{", let (placeholder, variable) = placeholders.first(where: { String(c[i..<min(c.count, i + $0.key.count)]) == $0.key }) {
                switch top {
                case .plain, .substitution, .backquote: out += "\"$\(variable)\""
                case .double: out += "${\(variable)}"
                case .single: out += "'\"$\(variable)\"'"
                }
                i += placeholder.count
                continue
            }
            let ch = c[i]
            out.append(ch)
            i += 1
            switch top {
            case .single:
                if ch == "'" { stack.removeLast() }
            case .double:
                if ch == "\\", let next = at(i) { out.append(next); i += 1 }
                else if ch == "\"" { stack.removeLast() }
                else if ch == "$", at(i) == "(" { out.append("("); i += 1; stack.append(.substitution(depth: 0)) }
                else if ch == "`" { stack.append(.backquote) }
            case .plain, .substitution, .backquote:
                if ch == "\\", let next = at(i) { out.append(next); i += 1; continue }
                if ch == "'" { stack.append(.single); continue }
                if ch == "\"" { stack.append(.double); continue }
                if ch == "$", at(i) == "(" { out.append("("); i += 1; stack.append(.substitution(depth: 0)); continue }
                if ch == "`" {
                    if case .backquote = top { stack.removeLast() } else { stack.append(.backquote) }
                    continue
                }
                if case .substitution(let depth) = top {
                    if ch == "(" { stack[stack.count - 1] = .substitution(depth: depth + 1) }
                    if ch == ")" { if depth == 0 { stack.removeLast() } else { stack[stack.count - 1] = .substitution(depth: depth - 1) } }
                }
                // a comment: `#` starting a word runs to the end of the line, quotes in it open nothing
                if ch == "#", i == 1 || c[i - 2].isWhitespace || ";&|()".contains(c[i - 2]) {
                    while i < c.count, c[i] != "\n" { out.append(c[i]); i += 1 }
                }
            }
        }
        return out
    }
}
