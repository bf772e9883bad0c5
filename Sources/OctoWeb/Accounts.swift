import Crypto
import CryptoExtras
import FoundationEssentials
import MariaDB
import OctoCore
import OctoTime

/// The dashboard's accounts: who may look (viewer), act (operator) or also
/// manage accounts and settings (admin). Passwords are kept as scrypt hashes;
/// a login makes a session, a random 256-bit token whose SHA-256 alone is stored.
public enum Role: String, CaseIterable, Sendable, Comparable {
    case viewer, `operator`, admin

    public static func < (a: Role, b: Role) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    public static func parse(_ text: String) throws -> Role {
        guard let r = Role(rawValue: text) else {
            throw OctoError.invalid("role", text, expected: "viewer, operator or admin")
        }
        return r
    }
}

public struct Account: Sendable, Equatable {
    public var name: String
    public var role: Role
}

/// `scrypt$N$r$p$salt$hash`, base64: the parameters travel with the hash, so raising them later
/// keeps every stored password valid.
public enum PasswordHash {
    /// 2^15 × 8 × 128 bytes = 32 MiB and about 50–100 ms per check on one core: slow for a guesser,
    /// bearable for a login (which is rate-limited as well).
    static let n = 1 << 15, r = 8, p = 1

    public static func make(_ password: String) throws -> String {
        let salt = randomBytes(16)
        let key = try derive(password, salt: salt, n: n, r: r, p: p)
        return "scrypt$\(n)$\(r)$\(p)$\(Data(salt).base64EncodedString())$\(Data(key).base64EncodedString())"
    }

    public static func verify(_ password: String, _ stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 6, parts[0] == "scrypt", let n = Int(parts[1]), let r = Int(parts[2]),
            let p = Int(parts[3]), let salt = Data(base64Encoded: parts[4]), let want = Data(base64Encoded: parts[5]),
            n > 1, n <= 1 << 20, r >= 1, r <= 32, p >= 1, p <= 16
        else { return false }
        guard let got = try? derive(password, salt: [UInt8](salt), n: n, r: r, p: p) else { return false }
        return constantTimeEqual(got, [UInt8](want))
    }

    static func derive(_ password: String, salt: [UInt8], n: Int, r: Int, p: Int) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.utf8), salt: salt, outputByteCount: 32, rounds: n, blockSize: r, parallelism: p)
        return key.withUnsafeBytes { [UInt8]($0) }
    }
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in a.indices { diff |= a[i] ^ b[i] }
    return diff == 0
}

func randomBytes(_ n: Int) -> [UInt8] {
    var g = SystemRandomNumberGenerator()
    return (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
}

func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

func sha256Hex(_ text: String) -> String { hex(SHA256.hash(data: Array(text.utf8))) }

/// Reads and writes `users`, `web_sessions` and `login_failures`.
public enum AccountStore {
    /// A session lasts this long after login (seconds).
    public static let sessionLifetime: Int64 = 12 * 3600
    /// More than `failureLimit` failed logins for a name within `failureWindow` seconds refuse the next ones
    /// until the oldest of them is older than the window.
    public static let failureLimit = 5
    public static let failureWindow: Int64 = 900

    public static func checkName(_ name: String) throws {
        let ok =
            !name.isEmpty && name.count <= 64
            && name.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                    || "._-".unicodeScalars.contains($0)
            }
        if !ok {
            throw OctoError.invalid(
                "user name", name, expected: "1 to 64 letters, digits, '.', '_' or '-'")
        }
    }

    public static func checkPassword(_ password: String) throws {
        if password.count < 8 { throw OctoError.usage("the password is too short: at least 8 characters") }
        if password.utf8.count > 1024 { throw OctoError.usage("the password is too long: at most 1024 bytes") }
    }

    public static func list(_ db: Connection) throws -> [(account: Account, created: Instant)] {
        try db.query("SELECT name, role, created_at FROM users ORDER BY name").rows.map { row in
            let role = try Role.parse(try row.decode("role", as: String.self))
            return (Account(name: try row.decode("name"), role: role), try row.decode("created_at"))
        }
    }

    /// Adds an account; an existing name is refused (exit 2). Audited in the same transaction.
    public static func add(_ db: Connection, _ name: String, role: Role, password: String, by who: String) throws {
        try checkName(name)
        try checkPassword(password)
        let hash = try PasswordHash.make(password)
        try db.retrying { db in
            try db.transaction {
                let n = try db.execute(
                    "INSERT IGNORE INTO users (name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, NOW(6), NOW(6))",
                    [.text(name), .text(role.rawValue), .text(hash)])
                if n == 0 { throw OctoError.usage("a user named '\(name.quotedForMessage)' already exists") }
                try AuditStore.record(
                    db,
                    Audit.Record(
                        .userAdd, by: who, subject: "user \(name)",
                        changes: [Audit.Change("role", .null, .string(role.rawValue))]))
            }
        }
    }

    /// Removes an account and its sessions.
    public static func remove(_ db: Connection, _ name: String, by who: String) throws {
        try db.retrying { db in
            try db.transaction {
                let role: String? = try db.query("SELECT role FROM users WHERE name = ? FOR UPDATE", [.text(name)])
                    .first?.decode("role")
                guard let role else { throw OctoError.usage("no user named '\(name.quotedForMessage)'") }
                try db.execute("DELETE FROM users WHERE name = ?", [.text(name)])
                try db.execute("DELETE FROM web_sessions WHERE user_name = ?", [.text(name)])
                try AuditStore.record(
                    db,
                    Audit.Record(
                        .userRemove, by: who, subject: "user \(name)",
                        changes: [Audit.Change("role", .string(role), .null)]))
            }
        }
    }

    /// Sets a new password (and ends every session of the account).
    public static func setPassword(_ db: Connection, _ name: String, password: String, by who: String) throws {
        try checkPassword(password)
        let hash = try PasswordHash.make(password)
        try db.retrying { db in
            try db.transaction {
                let n = try db.execute(
                    "UPDATE users SET password_hash = ?, updated_at = NOW(6) WHERE name = ?", [.text(hash), .text(name)]
                )
                if n == 0 { throw OctoError.usage("no user named '\(name.quotedForMessage)'") }
                try db.execute("DELETE FROM web_sessions WHERE user_name = ?", [.text(name)])
                try AuditStore.record(
                    db,
                    Audit.Record(
                        .userPassword, by: who, subject: "user \(name)",
                        changes: [Audit.Change("password", .string("(old)"), .string("(new)"))]))
            }
        }
    }

    public enum LoginResult: Sendable, Equatable {
        /// The session's token (for the cookie) and its CSRF token.
        case ok(token: String, csrf: String, account: Account)
        case wrong
        /// Too many recent failures for this name: try again after `retryAfter` seconds.
        case limited(retryAfter: Int64)
    }

    /// What a login needs from the database before the password is checked: whether the name is rate-limited,
    /// else its stored hash and role (nil for an unknown name).
    public enum Candidate: Sendable {
        case limited(Int64)
        /// `attempt`: the failure row reserved for this attempt (`succeeded` removes it).
        case check(stored: String?, role: Role?, attempt: Int64)
    }

    /// Reserves the attempt before anything is checked: a failure row is written first and the name's failures
    /// are counted up to it, so logins sent at once are counted one by one — before, each counted the failures
    /// already written, all passed while their slow hashes were checked, and 30 parallel guesses got 24 checked
    /// against a limit of 5. Beyond the limit the reservation is taken back (an attack does not lengthen the
    /// wait); a right password takes it back too (`succeeded`); a wrong one leaves it as the failure.
    public static func loginCandidate(_ db: Connection, _ name: String) throws -> Candidate {
        let user = String(name.prefix(64))
        let attempt = Int64(
            try db.query("INSERT INTO login_failures (user_name, at) VALUES (?, NOW(6))", [.text(user)]).lastInsertID)
        let recent = try db.query(
            """
            SELECT COUNT(*) AS n, COALESCE(TIMESTAMPDIFF(SECOND, NOW(6), MIN(at) + INTERVAL ? SECOND), 0) AS wait
            FROM login_failures WHERE user_name = ? AND at > NOW(6) - INTERVAL ? SECOND AND id <= ?
            """, [.int(failureWindow), .text(user), .int(failureWindow), .int(attempt)]
        ).first!
        let count: Int64 = try recent.decode("n")
        if count > Int64(failureLimit) {
            try db.execute("DELETE FROM login_failures WHERE id = ?", [.int(attempt)])
            return .limited(max(1, try recent.decode("wait")))
        }
        _ = try? db.execute("DELETE FROM login_failures WHERE at < NOW(6) - INTERVAL 1 DAY LIMIT 100")
        let row = try db.query("SELECT role, password_hash FROM users WHERE name = ?", [.text(name)]).first
        return .check(
            stored: try row?.decode("password_hash", as: String.self),
            role: try row.map { try Role.parse(try $0.decode("role", as: String.self)) }, attempt: attempt)
    }

    /// The password was right: the attempt's reserved failure row goes.
    public static func succeeded(_ db: Connection, attempt: Int64) throws {
        try db.execute("DELETE FROM login_failures WHERE id = ?", [.int(attempt)])
    }

    /// A new session for an account whose password was right.
    public static func startSession(_ db: Connection, _ account: Account) throws -> LoginResult {
        let token = hex(randomBytes(32))
        let csrf = hex(randomBytes(32))
        try db.execute(
            """
            INSERT INTO web_sessions (token_hash, user_name, csrf, created_at, expires_at)
            VALUES (?, ?, ?, NOW(6), NOW(6) + INTERVAL ? SECOND)
            """, [.text(sha256Hex(token)), .text(account.name), .text(csrf), .int(sessionLifetime)])
        _ = try? db.execute("DELETE FROM web_sessions WHERE expires_at < NOW(6) LIMIT 100")
        return .ok(token: token, csrf: csrf, account: account)
    }

    /// Checks a password and makes a session, or counts the failure (all on `db`; the server checks the hash
    /// off its connections instead). While a name has `failureLimit` failures within the window, even the right
    /// password is refused.
    public static func login(_ db: Connection, _ name: String, password: String) throws -> LoginResult {
        switch try loginCandidate(db, name) {
        case .limited(let wait): return .limited(retryAfter: wait)
        case .check(let stored, let role, let attempt):
            // an unknown name costs the same hash as a known one: timing does not tell which names exist
            guard PasswordHash.verify(password, stored ?? dummyHash), let role else { return .wrong }
            try succeeded(db, attempt: attempt)
            return try startSession(db, Account(name: name, role: role))
        }
    }

    /// The account and CSRF token of a live session, or nil (unknown, expired, or its user removed).
    public static func session(_ db: Connection, token: String) throws -> (account: Account, csrf: String)? {
        guard token.count == 64 else { return nil }
        guard
            let row = try db.query(
                """
                SELECT u.name, u.role, s.csrf FROM web_sessions s JOIN users u ON u.name = s.user_name
                WHERE s.token_hash = ? AND s.expires_at > NOW(6)
                """, [.text(sha256Hex(token))]
            ).first
        else { return nil }
        let account = Account(
            name: try row.decode("name"), role: try Role.parse(try row.decode("role", as: String.self)))
        return (account, try row.decode("csrf"))
    }

    public static func logout(_ db: Connection, token: String) throws {
        try db.execute("DELETE FROM web_sessions WHERE token_hash = ?", [.text(sha256Hex(token))])
    }

    /// A valid hash of no password anyone has, checked when the name is unknown.
    public static let dummyHash: String = (try? PasswordHash.make(hex(randomBytes(16)))) ?? ""
}
