import MariaDB
import OctoTime

/// One finding of `octo doctor`: what was checked, how it went, and what to
/// do about it.
public struct DoctorCheck: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable { case ok, warn, fail }
    public let name: String
    public let status: Status
    public let detail: String
    /// A command or step that fixes it (nil when nothing needs fixing).
    public let fix: String?

    public init(_ name: String, _ status: Status, _ detail: String, fix: String? = nil) {
        (self.name, self.status, self.detail, self.fix) = (name, status, detail, fix)
    }
}

/// `octo doctor`: checks configuration, what waits locally for the database
/// (spooled log lines, cursor values), connection, schema version,
/// privileges and the clock offset against the server, in that order, and
/// says plainly what is wrong and how to fix it. Costs one connect and three
/// queries, so it is cheap enough to run from cron.
public enum Doctor {
    /// Privileges a worker needs on octo's database.
    public static let workerPrivileges = ["SELECT", "INSERT", "UPDATE", "DELETE"]
    /// Privileges `octo init` needs; `ALTER` and `DROP` also let the monitor
    /// keep log partitions (create tomorrow's, drop expired ones).
    public static let adminPrivileges = ["CREATE", "ALTER", "DROP", "INDEX"]

    public static func run(_ config: OctoConfig) -> [DoctorCheck] {
        var checks = [configuration(config), waiting(config)]
        if config.connection.hosts.count > 1 { checks.append(servers(config.connection)) }
        let db: Connection
        do {
            db = try config.connect()
        } catch {
            checks.append(connectFailure(error, config))
            return checks
        }
        defer { db.close() }
        checks.append(
            DoctorCheck(
                "connection", .ok,
                "\(db.server.map { "server \($0): " } ?? "")\(db.hostInfo), MariaDB \(db.serverVersion), database '\(config.database)'"
            )
        )

        // One query for the server's clock, user and schema version.
        let before = Instant.now()
        let server: (now: Instant, user: String)
        do {
            server = try ServerStore.clockAndUser(db)
        } catch {
            checks.append(DoctorCheck("server", .fail, "\(error)"))
            return checks
        }
        let after = Instant.now()
        checks.append(schema(db, config))
        checks.append(privileges(db, config, currentUser: server.user))
        checks.append(clock(server: server.now, before: before, after: after))
        return checks
    }

    /// Each server of a host list: reachable, primary (writable) or replica (read-only), the replica's lag and
    /// each side's semi-synchronous replication. Fails with no writable primary, or two (split brain).
    static func servers(_ options: ConnectionOptions) -> DoctorCheck {
        var parts: [String] = []
        var writable: [String] = []
        var unreachable = false
        var degraded = false
        for h in options.hosts {
            do {
                let db = try Connection(options.only(h))
                defer { db.close() }
                let v = try db.query(
                    """
                    SELECT @@global.read_only AS ro, @@global.rpl_semi_sync_master_enabled AS sm,
                      @@global.rpl_semi_sync_slave_enabled AS ss
                    """
                ).first!
                let readOnly: Int64 = try v.decode("ro")
                let semiMaster: Int64 = try v.decode("sm")
                let semiSlave: Int64 = try v.decode("ss")
                if readOnly == 0 {
                    writable.append(h.description)
                    var state = "semi-sync master \(semiMaster == 1 ? "on" : "off")"
                    if semiMaster == 1,
                        let clients = try db.query("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'").first
                            .flatMap({ Int64(try $0.decode("Value", as: String.self)) }), clients == 0
                    {
                        // every commit waits for an acknowledgement no replica sends, up to the timeout (an hour
                        // in the documented set-up): a stopped replica stops the fleet's writes
                        state += " with no replica connected: commits wait for rpl_semi_sync_master_timeout"
                        degraded = true
                    }
                    parts.append("\(h) primary (writable; \(state))")
                    continue
                }
                var lag = "lag unknown (SHOW SLAVE STATUS needs the SLAVE MONITOR privilege)"
                if let status = try? db.query("SHOW SLAVE STATUS") {
                    if let r = status.first {
                        let seconds = try? r.decode("Seconds_Behind_Master", as: Int64?.self)
                        lag = seconds.flatMap { $0 }.map { "lag \($0) s" } ?? "not replicating"
                        if lag == "not replicating" { degraded = true }
                    } else {
                        lag = "not a replica"
                    }
                }
                parts.append("\(h) read-only, \(lag); semi-sync slave \(semiSlave == 1 ? "on" : "off")")
            } catch {
                unreachable = true
                parts.append("\(h) unreachable: \(error)")
            }
        }
        let detail = parts.joined(separator: "; ")
        if writable.isEmpty {
            return DoctorCheck(
                "servers", .fail, "no writable primary: " + detail,
                fix: "promote the replica (docs: Running the database with a replica) or fix the host list")
        }
        if writable.count > 1 {
            return DoctorCheck(
                "servers", .fail, "split brain: \(writable.joined(separator: " and ")) are both writable: " + detail,
                fix: "SET GLOBAL read_only = 1 on the old primary and re-point it as a replica")
        }
        if degraded {
            return DoctorCheck(
                "servers", .warn, detail,
                fix:
                    "start the replica (START SLAVE); until it is back, SET GLOBAL rpl_semi_sync_master_wait_no_slave = OFF "
                    + "on the primary, and do not promote that replica before it has caught up")
        }
        return DoctorCheck("servers", unreachable ? .warn : .ok, detail)
    }

    static func configuration(_ c: OctoConfig) -> DoctorCheck {
        var parts: [String] = []
        parts.append(
            c.optionFiles.files.isEmpty
                ? "no option file" : "option files " + c.optionFiles.files.joined(separator: ", "))
        if !c.environmentOverrides.isEmpty {
            parts.append("overridden by " + c.environmentOverrides.joined(separator: ", "))
        }
        parts.append("machine '\(c.machine)'")
        parts.append("state dir \(c.stateDirectory)")
        if !c.warnings.isEmpty {
            return DoctorCheck("config", .warn, c.warnings.joined(separator: "; "), fix: "chmod 600 the file(s) named")
        }
        for dir in [c.stateDirectory, c.stateDirectory + "/cursors", c.stateDirectory + "/spool"] {
            if let problem = privateDirectoryProblem(dir) {
                return DoctorCheck(
                    "config", .fail, "state dir: " + problem,
                    fix: "a state directory only this user can write (OCTO_STATE_DIR)")
            }
        }
        if !isWritableDirectory(c.stateDirectory) {
            return DoctorCheck(
                "config", .warn,
                "state dir \(c.stateDirectory) is not writable: local cursors and the log spool need it",
                fix: "set OCTO_STATE_DIR to a writable directory")
        }
        return DoctorCheck("config", .ok, parts.joined(separator: "; "))
    }

    /// What this machine holds that the database does not have yet: log lines in the spool, cursor values
    /// set during an outage. Both go out by themselves; a count that does not shrink means they cannot.
    static func waiting(_ c: OctoConfig) -> DoctorCheck {
        let spool = Spool(stateDirectory: c.stateDirectory)
        let files = spool.files()
        let lines = files.isEmpty ? 0 : spool.pendingLineCount()
        let cursorFiles = CursorFiles(stateDirectory: c.stateDirectory)
        var pending: [String] = []
        var damaged: [String] = []
        for job in cursorFiles.jobs() {
            do {
                if try cursorFiles.read(job)?.state == .pending { pending.append(job) }
            } catch {
                damaged.append(job)
            }
        }
        if !damaged.isEmpty {
            return DoctorCheck(
                "waiting", .warn,
                "damaged local cursor file(s) for \(damaged.joined(separator: ", ")) in \(cursorFiles.directory)",
                fix: "move the file(s) away; the cursor in the database is unaffected")
        }
        var parts: [String] = []
        if !files.isEmpty { parts.append("\(lines) log line(s) in \(files.count) spool file(s)") }
        if !pending.isEmpty { parts.append("cursor value(s) of \(pending.joined(separator: ", "))") }
        if parts.isEmpty { return DoctorCheck("waiting", .ok, "nothing waits for the database") }
        return DoctorCheck(
            "waiting", .warn, parts.joined(separator: " and ") + " wait for the database",
            fix:
                "they go out once it is reachable (octo monitor and octo consume replay the spool, octo cursor sync pushes cursors)"
        )
    }

    static func connectFailure(_ error: MariaDBError, _ c: OctoConfig) -> DoctorCheck {
        let target =
            c.connection.description.isEmpty ? "the server named by the option files" : c.connection.description
        switch error.code {
        case .unknownDatabase:
            return DoctorCheck(
                "connection", .fail, "the server answers but database '\(c.database)' does not exist", fix: "octo init")
        case .accessDenied:
            return DoctorCheck(
                "connection", .fail, "access denied: \(error.message)",
                fix: "check user and password in the option file ([octo] or [client] group)")
        case .cannotConnectSocket, .cannotConnectTCP, .unknownHost:
            return DoctorCheck(
                "connection", .fail, "cannot reach MariaDB (\(target)): \(error.message)",
                fix:
                    "start the server (scripts/mariadb start for the private one) or fix host/socket in the option file"
            )
        default:
            return DoctorCheck(
                "connection", .fail, "\(error)", fix: "check the option file and that MariaDB is running")
        }
    }

    static func schema(_ db: Connection, _ c: OctoConfig) -> DoctorCheck {
        let v: Int
        do { v = try Migrator.currentVersion(db) } catch { return DoctorCheck("schema", .fail, "\(error)") }
        if v == 0 {
            return DoctorCheck("schema", .fail, "database '\(c.database)' has no octo tables", fix: "octo init")
        }
        if v < Schema.latest {
            return DoctorCheck(
                "schema", .fail, "schema v\(v) is older than this octo's v\(Schema.latest)", fix: "octo init")
        }
        if v > Schema.latest {
            return DoctorCheck(
                "schema", .fail, "schema v\(v) is newer than this octo's v\(Schema.latest)",
                fix: "upgrade octo on this machine")
        }
        return DoctorCheck("schema", .ok, "v\(v)")
    }

    static func privileges(_ db: Connection, _ c: OctoConfig, currentUser: String) -> DoctorCheck {
        // CURRENT_USER() is user@host; a GRANT names it as 'user'@'host'.
        let grantee =
            currentUser.lastIndex(of: "@").map {
                "'\(currentUser[..<$0])'@'\(currentUser[currentUser.index(after: $0)...])'"
            } ?? currentUser
        let grants: Grants
        do {
            grants = Grants(showGrants: try ServerStore.grants(db), database: c.database)
        } catch {
            return DoctorCheck("privileges", .warn, "cannot read privileges: \(error)")
        }
        return privileges(
            grants, currentUser: currentUser, grantee: grantee, database: c.database,
            hostList: c.connection.hosts.count > 1)
    }

    /// The verdict on what `grants` allow: a worker needs `workerPrivileges` on every table; the monitor needs
    /// ALTER and DROP on `logs` for log partitions; `octo init` needs `adminPrivileges` on the database.
    /// With a host list (`hostList`), an account that writes through `read_only` fails: after a switchover its
    /// processes still connected to the demoted primary would go on writing there (split brain).
    static func privileges(
        _ grants: Grants, currentUser: String, grantee: String, database: String, hostList: Bool = false
    ) -> DoctorCheck {
        if hostList, let p = ["READ_ONLY ADMIN", "SUPER", "ALL PRIVILEGES"].first(where: grants.global.contains) {
            return DoctorCheck(
                "privileges", .fail,
                "\(currentUser) has \(p) on *.*, which writes through read_only: after a switchover its octo "
                    + "could go on writing to the old primary (split brain)",
                fix: "REVOKE \(p) ON *.* FROM \(grantee) (octo needs privileges on `\(database)` only)")
        }
        let missing = workerPrivileges.compactMap { p -> String? in
            let lacking = Schema.objects.filter { !grants.allows(p, on: $0) }
            if lacking.isEmpty { return nil }
            return lacking.count == Schema.objects.count ? p : p + " (on " + lacking.joined(separator: ", ") + ")"
        }
        if !missing.isEmpty {
            return DoctorCheck(
                "privileges", .fail, "\(currentUser) lacks \(missing.joined(separator: ", ")) in `\(database)`",
                fix: "GRANT SELECT, INSERT, UPDATE, DELETE ON `\(database)`.* TO \(grantee)")
        }
        let upkeep = ["ALTER", "DROP"].filter { !grants.allows($0, on: "logs") }
        if !upkeep.isEmpty {
            return DoctorCheck(
                "privileges", .warn,
                "\(currentUser) can run jobs, but without \(upkeep.joined(separator: ", ")) on `\(database)`.`logs` its monitor cannot keep the log partitions (add the coming days, drop expired ones)",
                fix: "GRANT ALTER, DROP ON `\(database)`.`logs` TO \(grantee)")
        }
        let admin = adminPrivileges.filter { !grants.allows($0) }
        if !admin.isEmpty {
            return DoctorCheck(
                "privileges", .ok,
                "\(currentUser) can run jobs and keep log partitions; \(admin.joined(separator: ", ")) on `\(database)` missing, so octo init needs another account"
            )
        }
        return DoctorCheck(
            "privileges", .ok,
            "\(currentUser) has \((workerPrivileges + adminPrivileges).joined(separator: ", ")) on `\(database)`")
    }

    /// Offset of the server's clock from this machine's, measured at the
    /// midpoint of the query. octo schedules by the server's clock, so an
    /// offset is harmless for correctness but confusing in logs.
    static func clock(server: Instant, before: Instant, after: Instant) -> DoctorCheck {
        let mid = Instant(microsecondsSinceEpoch: (before.microseconds + after.microseconds) / 2)
        let offset = Double((server - mid).microseconds) / 1_000_000
        let text = (offset >= 0 ? "+" : "") + formatSeconds(offset) + " s (server minus this machine)"
        // the server read its clock somewhere within the round trip: only an offset beyond that doubt is one
        let doubt = Double((after - before).microseconds) / 2_000_000
        if abs(offset) - doubt > 2 {
            return DoctorCheck(
                "clock", .warn, "offset \(text); octo uses the server's clock, but local log times will look off",
                fix: "enable time synchronisation (e.g. timedatectl set-ntp true)")
        }
        return DoctorCheck("clock", .ok, "offset \(text)")
    }

    static func formatSeconds(_ v: Double) -> String {
        let ms = Int64((abs(v) * 1000).rounded())
        return (v < 0 && ms > 0 ? "-" : "") + String(ms / 1000) + "." + String(ms % 1000).leftPadded(to: 3)
    }
}
