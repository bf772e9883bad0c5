/// How to reach the server.
///
/// With `readOptionFiles` (the default) libmariadb itself reads the standard
/// MariaDB option files — groups `[client]`, `[client-server]`,
/// `[client-mariadb]` and `[<group>]` — from `/etc/my.cnf`,
/// `/etc/mysql/my.cnf`, `$MARIADB_HOME/my.cnf` and `~/.my.cnf`, or only
/// `defaultsFile` when it is set. Any non-nil field below overrides what the
/// files say.
public struct ConnectionOptions: Sendable, CustomStringConvertible {
    public var defaultsFile: String?
    public var group: String = "octo"
    public var readOptionFiles: Bool = true
    public var host: String?
    public var port: UInt32?
    /// Two or more servers, in order (`host = db1,db2:3307`): the connection goes to the first that answers
    /// and is writable (`@@read_only = 0`); a read-only server is never used, for reads either. Empty: `host`.
    public var hosts: [Host] = []
    public var socket: String?
    public var user: String?
    public var password: String?
    public var database: String?
    /// Seconds to wait for the server to answer a connect (option files may override).
    public var connectTimeout: UInt32 = 5
    /// Seconds a read or write on the connection may block (libmariadb may retry a read once more):
    /// a broken network shows up as a lost connection instead of a hang.
    public var readTimeout: UInt32 = 30
    /// Seconds a statement waits for a row or metadata lock before the server answers 1205 (with the
    /// default read timeout): set for every session by the connection's init command, below `readTimeout`.
    public static let lockWaitSeconds = 20

    /// The lock wait of this connection: `lockWaitSeconds`, or two thirds of a shorter read timeout, so that
    /// a long wait always ends as the server's 1205 on a live connection, never as a client-side timeout.
    public var lockWait: Int { min(ConnectionOptions.lockWaitSeconds, max(1, Int(readTimeout) * 2 / 3)) }

    public init() {}

    /// These options for one server of the host list alone (`octo doctor` looks at each).
    public func only(_ h: Host) -> ConnectionOptions {
        var one = self
        (one.host, one.port, one.hosts) = (h.name, h.port ?? port, [])
        return one
    }

    /// One entry of a host list: a name or address, and a port of its own (else `port`).
    public struct Host: Sendable, Equatable, CustomStringConvertible {
        public var name: String
        public var port: UInt32?
        public init(_ name: String, port: UInt32? = nil) { (self.name, self.port) = (name, port) }
        public var description: String {
            guard let port else { return name }
            return (name.contains(":") ? "[\(name)]" : name) + ":\(port)"
        }
    }

    /// Never shows the password.
    public var description: String {
        var parts: [String] = []
        if let f = defaultsFile { parts.append("defaults-file=\(f)") }
        if !hosts.isEmpty {
            parts.append("host=" + hosts.map(\.description).joined(separator: ","))
        } else if let h = host {
            parts.append("host=\(h)")
        }
        if let p = port { parts.append("port=\(p)") }
        if let s = socket { parts.append("socket=\(s)") }
        if let u = user { parts.append("user=\(u)") }
        if password != nil { parts.append("password=***") }
        if let d = database { parts.append("database=\(d)") }
        return parts.joined(separator: " ")
    }
}
