/// What the session may do in one database, read from `SHOW GRANTS`.
///
/// `SHOW GRANTS` (without `FOR`) lists the account's own grants and those of
/// every enabled role, nested roles too, one statement per row — so roles count,
/// which `information_schema.SCHEMA_PRIVILEGES` does not show. Understood:
/// privileges on `*.*`, on the database (`db`.* — also a wildcard pattern such as
/// `octo\_%` that matches it) and on its tables; column grants, routine grants,
/// role and proxy grants give no table privilege and are passed over.
public struct Grants: Equatable, Sendable {
    /// Privilege names as the server spells them (`SELECT`, `ALTER`); `ALL PRIVILEGES` is kept as itself.
    public private(set) var global: Set<String> = []
    public private(set) var database: Set<String> = []
    public private(set) var tables: [String: Set<String>] = [:]

    public init(showGrants lines: [String], database name: String) {
        for line in lines {
            guard let g = Self.parse(line) else { continue }
            switch g.target {
            case .global: global.formUnion(g.privileges)
            case .database(let pattern) where Self.like(pattern, name): database.formUnion(g.privileges)
            case .table(let db, let table) where db == name: tables[table, default: []].formUnion(g.privileges)
            default: break
            }
        }
    }

    /// Whether `privilege` holds on `table` through any grant; without a table, on the whole database
    /// (what creating tables needs).
    public func allows(_ privilege: String, on table: String? = nil) -> Bool {
        [global, database, table.flatMap { tables[$0] } ?? []].contains {
            $0.contains(privilege) || $0.contains("ALL PRIVILEGES")
        }
    }

    enum Target: Equatable {
        case global
        case database(String)
        case table(String, String)
    }

    /// `GRANT SELECT, INSERT ON `db`.* TO …` → ([SELECT, INSERT], .database("db")); nil for what gives no table privilege.
    static func parse(_ line: String) -> (privileges: Set<String>, target: Target)? {
        var s = Substring(line)
        guard s.hasPrefix("GRANT ") else { return nil }
        s = s.dropFirst(6)
        guard !s.hasPrefix("`"), !s.hasPrefix("PROXY ") else { return nil }  // a role granted, or a proxy grant
        // the privilege list ends at " ON " outside parentheses (column lists) and quotes
        var depth = 0
        var quoted = false
        var end: Substring.Index?
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if c == "`" {
                quoted.toggle()
            } else if !quoted && c == "(" {
                depth += 1
            } else if !quoted && c == ")" {
                depth -= 1
            }
            if !quoted && depth == 0 && s[i...].hasPrefix(" ON ") {
                end = i
                break
            }
            i = s.index(after: i)
        }
        guard let end else { return nil }
        let privileges = s[..<end].split(separator: ",").map { $0.trimmingWhitespace() }
        var rest = s[s.index(end, offsetBy: 4)...]
        guard !rest.hasPrefix("PROCEDURE "), !rest.hasPrefix("FUNCTION "), !rest.hasPrefix("PACKAGE ") else {
            return nil
        }
        let kept = Set(privileges.filter { !$0.contains("(") && !$0.isEmpty }.map { $0.uppercased() })
        guard !kept.isEmpty else { return nil }  // only column grants
        if rest.hasPrefix("*.*") { return (kept, .global) }
        guard let db = identifier(&rest), rest.hasPrefix(".") else { return nil }
        rest = rest.dropFirst()
        if rest.hasPrefix("*") { return (kept, .database(db)) }
        guard let table = identifier(&rest) else { return nil }
        return (kept, .table(db, table))
    }

    /// A backquoted identifier (`` `a``b` `` is a`b) at the front of `s`, which moves past it.
    static func identifier(_ s: inout Substring) -> String? {
        guard s.hasPrefix("`") else { return nil }
        var out = ""
        var i = s.index(after: s.startIndex)
        while i < s.endIndex {
            if s[i] == "`" {
                let next = s.index(after: i)
                if next < s.endIndex && s[next] == "`" {
                    out.append("`")
                    i = s.index(after: next)
                    continue
                }
                s = s[next...]
                return out
            }
            out.append(s[i])
            i = s.index(after: i)
        }
        return nil
    }

    /// SQL LIKE as database-level grants use it: `%` any run, `_` any one character, `\` escapes.
    static func like(_ pattern: String, _ name: String) -> Bool {
        let p = Array(pattern)
        let n = Array(name)
        func match(_ i: Int, _ j: Int) -> Bool {
            if i == p.count { return j == n.count }
            switch p[i] {
            case "%": return (j...n.count).contains { match(i + 1, $0) }
            case "_": return j < n.count && match(i + 1, j + 1)
            case "\\" where i + 1 < p.count: return j < n.count && p[i + 1] == n[j] && match(i + 2, j + 1)
            default: return j < n.count && p[i] == n[j] && match(i + 1, j + 1)
            }
        }
        return match(0, 0)
    }
}
