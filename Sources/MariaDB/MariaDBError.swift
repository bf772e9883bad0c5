/// An error reported by the server or by libmariadb.
///
/// Carries the errno, the SQLSTATE and the message, and answers the questions
/// callers need (`isDuplicateKey`, `isTransient`). The message never contains a
/// bound value: server messages that quote one (a duplicate entry, an incorrect
/// value) have it replaced by `…`.
public struct MariaDBError: Error, CustomStringConvertible, Sendable {
    /// The server's or the client library's error number (ER_* / CR_*).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt32
        public init(_ rawValue: UInt32) { self.rawValue = rawValue }
        public var description: String { String(rawValue) }

        public static let duplicateKey = Code(1062)
        public static let lockWaitTimeout = Code(1205)
        public static let deadlock = Code(1213)
        public static let readOnly = Code(1290)
        public static let noSuchTable = Code(1146)
        public static let unknownDatabase = Code(1049)
        public static let accessDenied = Code(1045)
        public static let needReprepare = Code(1615)
        /// `LOAD DATA LOCAL` refused: the server runs with `local_infile` off (4166 from MariaDB 10.6 on).
        public static let commandNotAllowed = Code(1148)
        public static let localInfileDisabled = Code(4166)
        public static let connectionKilled = Code(1927)
        public static let serverGone = Code(2006)
        public static let lostConnection = Code(2013)
        public static let cannotConnectSocket = Code(2002)
        public static let cannotConnectTCP = Code(2003)
        public static let unknownHost = Code(2005)
        public static let inactivityDisconnect = Code(4031)
        /// Not a server error: a value or result octo could not handle.
        public static let client = Code(0)
    }

    public let code: Code
    public let sqlState: String
    /// The message, with any quoted value redacted.
    public let message: String
    /// What octo was doing ("connect", "prepare", "execute", …).
    public let operation: String

    public init(code: Code, sqlState: String, message: String, operation: String) {
        self.code = code
        self.sqlState = sqlState
        self.message = MariaDBError.redactingValues(message)
        self.operation = operation
    }

    public var description: String {
        "MariaDB error \(code) (\(sqlState)) during \(operation): \(message)"
    }

    /// A unique or primary key already holds this value (1062, SQLSTATE 23000).
    public var isDuplicateKey: Bool { code == .duplicateKey }

    /// The connection is gone; a new one may succeed.
    public var isConnectionLost: Bool {
        [.serverGone, .lostConnection, .connectionKilled, .inactivityDisconnect].contains(code)
    }

    /// Could not reach the server at all (nothing listens, host unreachable).
    public var isConnectFailure: Bool { [.cannotConnectSocket, .cannotConnectTCP].contains(code) }

    /// The server refuses a value for good (out of range, too long, not a valid value for its column):
    /// sending the same row again can never succeed.
    public var isRefusedValue: Bool { [1048, 1264, 1265, 1292, 1366, 1406].contains(code.rawValue) }

    /// Worth retrying the whole unit of work: deadlock (1213), lock wait
    /// timeout (1205), server gone (2006/2013, and killed/idle connections),
    /// read-only (1290, seen right after a primary switch-over).
    public var isTransient: Bool {
        [.deadlock, .lockWaitTimeout, .readOnly].contains(code) || isConnectionLost
    }

    /// Replaces the quoted value in messages such as
    /// `Duplicate entry 'alice' for key 'name'` or
    /// `Incorrect string value: '\xF0' for column 'c'` with `…`.
    /// A value starts after one of the markers and ends at the last quote
    /// before the last ` for ` (or the last quote of the message).
    static func redactingValues(_ message: String) -> String {
        let markers = ["entry '", "value: '", "value '"]
        var out = Substring("")
        var rest = Substring(message)
        while let start = markers.compactMap({ rest.firstRange(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            out += rest[..<start.upperBound]
            rest = rest[start.upperBound...]
            let end = rest.ranges(of: "' for ").last?.lowerBound ?? rest.lastIndex(of: "'") ?? rest.endIndex
            out += "…"
            rest = rest[end...]
        }
        return String(out + rest)
    }
}
