import MariaDB
import OctoTime

/// Everything octo needs to know before it talks to the database, resolved
/// once at start-up from (strongest first): command-line flags, `OCTO_*`
/// environment variables, the `[octo]` group of the option files, the client
/// groups, and built-in defaults.
///
/// | what | flag | environment | option files | default |
/// | --- | --- | --- | --- | --- |
/// | option file | `--defaults-file` | `OCTO_DEFAULTS_FILE` | — | standard locations |
/// | host, port, socket, user, password | — | `OCTO_DB_HOST` … `OCTO_DB_PASSWORD` | `[octo]`, then `[client]`… | libmariadb's |
/// | host list (`db1,db2:3307`: first writable) | — | `OCTO_DB_HOST` | `host` in any group | — |
/// | database | — | `OCTO_DB_NAME` | `database` | `octo` |
/// | read timeout (seconds) | — | `OCTO_DB_READ_TIMEOUT` | `read_timeout` (`[octo]`) | 30 |
/// | machine name | `--machine` | `OCTO_MACHINE` | — | host name |
/// | state directory | — | `OCTO_STATE_DIR` | — | `$XDG_STATE_HOME/octo` or `~/.local/state/octo` |
///
/// There is deliberately no password flag: a password on a command line is
/// visible to every user through `ps`.
public struct OctoConfig: Sendable {
    public let optionFiles: OptionFiles
    public let connection: ConnectionOptions
    public let database: String
    public let machine: String
    public let stateDirectory: String
    /// `OCTO_*` variables that changed the result, for `octo doctor`.
    public let environmentOverrides: [String]
    /// Problems worth telling a person about, one line each (no secrets).
    public let warnings: [String]

    public static let defaultDatabase = "octo"

    public init(defaultsFile flagFile: String?, machine flagMachine: String?, environment env: [String: String])
        throws(OctoError)
    {
        func nonEmpty(_ k: String) -> String? { env[k].flatMap { $0.isEmpty ? nil : $0 } }
        let defaultsFile = flagFile ?? nonEmpty("OCTO_DEFAULTS_FILE")
        let files = try OptionFiles(defaultsFile: defaultsFile, environment: env)
        optionFiles = files
        var overrides: [String] = []
        func pick(_ envKey: String, _ fileKey: String) -> String? {
            if let v = nonEmpty(envKey) {
                overrides.append(envKey)
                return v
            }
            return files.octoValue(fileKey)
        }
        var c = try OctoConfig.connectionOptions(pick)
        // a host list (or one `name:port`) in a client group: libmariadb would take it for one name, so octo reads
        // it; a bare IPv6 address (`::1`, more than one colon, no brackets) stays libmariadb's
        if c.host == nil, c.hosts.isEmpty, let h = files.value("host"),
            h.contains(",") || h.hasPrefix("[") || h.filter({ $0 == ":" }).count == 1
        {
            let list = try OctoConfig.hostList(h)
            if list.count == 1 {
                c.host = list[0].name
                if let p = list[0].port { c.port = p }
            } else {
                c.hosts = list
            }
        }
        c.defaultsFile = defaultsFile
        let db: String
        if let v = nonEmpty("OCTO_DB_NAME") {
            overrides.append("OCTO_DB_NAME")
            db = v
        } else {
            db = files.value("database") ?? OctoConfig.defaultDatabase
        }
        try Names.checkDatabase(db)
        c.database = db
        database = db
        connection = c
        machine = try OctoConfig.machineName(flag: flagMachine ?? nonEmpty("OCTO_MACHINE"))
        stateDirectory = OctoConfig.stateDirectory(nonEmpty)
        environmentOverrides = overrides
        warnings = files.exposedPasswordFiles.map { f in
            "\(f.file) holds a password and other users can read it (mode \(String(f.mode, radix: 8))); run: chmod 600 \(f.file)"
        }
    }

    /// Host, socket, user, password, port and read timeout, each from its
    /// `OCTO_DB_*` variable or the option files (`pick`).
    private static func connectionOptions(_ pick: (_ envKey: String, _ fileKey: String) -> String?) throws(OctoError)
        -> ConnectionOptions
    {
        var c = ConnectionOptions()
        c.host = pick("OCTO_DB_HOST", "host")
        if let h = c.host, h.contains(",") || h.contains(":") {
            let list = try hostList(h)
            if list.count == 1 { (c.host, c.port) = (list[0].name, list[0].port) } else { c.hosts = list }
        }
        c.socket = pick("OCTO_DB_SOCKET", "socket")
        c.user = pick("OCTO_DB_USER", "user")
        c.password = pick("OCTO_DB_PASSWORD", "password")
        if let p = pick("OCTO_DB_PORT", "port") {
            guard let port = UInt32(p), (1...65_535).contains(port) else {
                throw OctoError.invalid("port", p, expected: "a TCP port number from 1 to 65535")
            }
            c.port = c.port ?? port
        }
        if let t = pick("OCTO_DB_READ_TIMEOUT", "read-timeout") {
            guard let seconds = UInt32(t), (2...3600).contains(seconds) else {
                throw OctoError.invalid("read_timeout", t, expected: "whole seconds from 2 to 3600")
            }
            c.readTimeout = seconds
        }
        return c
    }

    /// `db1,db2:3307,[fd00::5]:3306`: each entry a host name or address with an optional port, in order.
    /// An empty entry, a bad name or a bad port is refused, naming the entry.
    public static func hostList(_ text: String) throws(OctoError) -> [ConnectionOptions.Host] {
        let expected = "name[:port] (a comma list of servers, e.g. db1,db2:3307; an IPv6 address as [addr]:port)"
        var out: [ConnectionOptions.Host] = []
        for raw in text.split(separator: ",", omittingEmptySubsequences: false) {
            let entry = raw.trimmingWhitespace()
            var name = Substring(entry)
            var portText: Substring?
            if name.hasPrefix("[") {
                guard let close = name.firstIndex(of: "]") else {
                    throw OctoError.invalid("host", entry, expected: expected)
                }
                let after = name[name.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":") else { throw OctoError.invalid("host", entry, expected: expected) }
                    portText = after.dropFirst()
                }
                name = name[name.index(after: name.startIndex)..<close]
                guard !name.isEmpty, name.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                    throw OctoError.invalid("host", entry, expected: expected)
                }
            } else {
                if let colon = name.firstIndex(of: ":") {
                    portText = name[name.index(after: colon)...]
                    name = name[..<colon]
                }
                guard !name.isEmpty, name.utf8.count <= 253,
                    name.allSatisfy({
                        $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_")
                    })
                else { throw OctoError.invalid("host", entry, expected: expected) }
            }
            var port: UInt32?
            if let portText {
                guard let p = UInt32(portText), (1...65_535).contains(p) else {
                    throw OctoError.invalid("host", entry, expected: expected)
                }
                port = p
            }
            out.append(ConnectionOptions.Host(String(name), port: port))
        }
        return out
    }

    /// The name given (checked), else the host name.
    private static func machineName(flag: String?) throws(OctoError) -> String {
        if let m = flag {
            try Names.check("machine name", m)
            return m
        }
        // a host name is usually a valid name; keep only what is allowed, so cron never fails on it
        let h = String(hostName().unicodeScalars.filter { $0.isASCII && Names.isNameByte(UInt8($0.value)) }.prefix(64))
        return h.isEmpty ? "localhost" : h
    }

    /// `OCTO_STATE_DIR`, else `$XDG_STATE_HOME/octo`, else `~/.local/state/octo`.
    private static func stateDirectory(_ nonEmpty: (String) -> String?) -> String {
        if let d = nonEmpty("OCTO_STATE_DIR") { return d }
        if let x = nonEmpty("XDG_STATE_HOME") { return x + "/octo" }
        return (nonEmpty("HOME") ?? "/tmp") + "/.local/state/octo"
    }

    /// A connection to octo's database (the `database` above).
    public func connect() throws(MariaDBError) -> Connection { try Connection(connection) }

    /// A connection that selects no database octo may not have created yet,
    /// for `octo init`: `information_schema` always exists. `readTimeout`
    /// (seconds), when given, replaces the configured one.
    public func connectWithoutDatabase(readTimeout: UInt32? = nil) throws(MariaDBError) -> Connection {
        var c = connection
        c.database = "information_schema"
        if let readTimeout { c.readTimeout = readTimeout }
        return try Connection(c)
    }
}
