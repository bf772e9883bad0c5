/// The placeholders of a job's command.
///
/// `{cursor}` and `{fire_time}` are replaced by a reference to the variables
/// `OCTO_CURSOR` and `OCTO_FIRE_TIME`, quoted for where they stand: bare
/// they become `"$OCTO_CURSOR"`, inside double quotes `$OCTO_CURSOR`, inside
/// single quotes `'"$OCTO_CURSOR"'`. The shell expands a variable to its
/// exact value and never reads an expansion as code, so a cursor like
/// `x'; rm -rf ~ #` reaches the job as that text, whatever the command's quoting.
public enum CommandTemplate {
    public static let placeholders = ["{cursor}": "OCTO_CURSOR", "{fire_time}": "OCTO_FIRE_TIME"]

    public static func substitute(_ command: String) -> String {
        guard command.contains("{") else { return command }
        enum Quote { case none, single, double }
        var out = ""
        var state = Quote.none
        var i = command.startIndex
        while i < command.endIndex {
            if command[i] == "{", let (placeholder, variable) = placeholders.first(where: { command[i...].hasPrefix($0.key) }) {
                switch state {
                case .none: out += "\"$\(variable)\""
                case .double: out += "${\(variable)}"
                case .single: out += "'\"$\(variable)\"'"
                }
                i = command.index(i, offsetBy: placeholder.count)
                continue
            }
            let c = command[i]
            out.append(c)
            switch (state, c) {
            case (.none, "\\"), (.double, "\\"):
                let next = command.index(after: i)
                if next < command.endIndex { out.append(command[next]); i = command.index(after: next); continue }
            case (.none, "'"): state = .single
            case (.none, "\""): state = .double
            case (.single, "'"): state = .none
            case (.double, "\""): state = .none
            default: break
            }
            i = command.index(after: i)
        }
        return out
    }
}
