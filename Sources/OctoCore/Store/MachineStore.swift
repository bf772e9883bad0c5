import MariaDB
import OctoTime

/// Reads and writes the `machines` table.
public enum MachineStore {
    /// What `octo register` was told; nil fields keep what the machine's row remembers.
    public struct Registration: Sendable {
        public var groups: [String]?
        public var envs: [String]?
        public var slots: Int?
        /// nil keeps the state; a new machine starts `active`.
        public var state: Machine.State?
        public init() {}
    }

    /// Inserts or refreshes `name`'s row in one statement: heartbeat (server
    /// time), facts, and the given flags; flags not given keep their
    /// remembered values. Returns the row as stored.
    /// `path` is the PATH searched for interpreters. A given state (`--drain`,
    /// `--remove`, `--active`) is a person's change: the row is then written in
    /// a transaction with its audit row, by `who`. The plain heartbeat of cron
    /// stays one statement.
    @discardableResult
    public static func register(
        _ db: Connection, name: String, _ r: Registration, user: String, path: String, by who: String
    ) throws -> Machine {
        // the interpreters' versions are asked (processes spawned) before any transaction holds a lock
        let detected = try detectedEnvironments(db, name: name, path: path)
        guard let state = r.state else { return try upsert(db, name: name, r, user: user, detected: detected) }
        return try db.transaction {
            let old = try db.query("SELECT state FROM machines WHERE name = ? FOR UPDATE", [.text(name)]).first.map {
                try $0.decode("state", as: Machine.State.self)
            }
            let m = try upsert(db, name: name, r, user: user, detected: detected)
            if old != state {
                let action: Audit.Action = state == .draining ? .drain : state == .removed ? .remove : .activate
                try AuditStore.record(
                    db,
                    Audit.Record(
                        action, by: who, subject: "machine " + name,
                        changes: [
                            Audit.Change("state", old.map { .string($0.rawValue) } ?? .null, .string(state.rawValue))
                        ]
                    ))
            }
            return m
        }
    }

    /// The interpreters on `path` with their versions. Versions are asked only when the set of
    /// interpreters changed since the last registration, so a registration every minute spawns nothing.
    private static func detectedEnvironments(_ db: Connection, name: String, path: String) throws -> [String] {
        let onPath = HostFacts.interpretersOnPath(path)
        let known =
            try db.query("SELECT envs_detected FROM machines WHERE name = ?", [.text(name)]).first
            .map { list(try $0.decode("envs_detected", as: String.self)) } ?? []
        return known.map { String($0.split(separator: " ")[0]) } == onPath ? known : HostFacts.withVersions(onPath)
    }

    private static func upsert(_ db: Connection, name: String, _ r: Registration, user: String, detected: [String])
        throws -> Machine
    {
        let cpus = HostFacts.cpuCount()
        let load = HostFacts.loadAverages()
        let mem = HostFacts.memory()
        let groups: Value = r.groups.map { $0.joined(separator: ",") }.sqlValue
        let envs: Value = r.envs.map { $0.joined(separator: ",") }.sqlValue
        let slots: Value = r.slots.sqlValue
        let state: Value = r.state.sqlValue
        try db.execute(
            """
            INSERT INTO machines (name, state, groups_list, envs, envs_detected, slots, slots_given, cpus, load1, load5, load15,
              mem_total, mem_available, unix_user, octo_version, first_seen, last_seen)
            VALUES (?, COALESCE(?, 'active'), COALESCE(?, ''), COALESCE(?, ''), ?, COALESCE(?, ?), ? IS NOT NULL, ?, ?, ?, ?, ?, ?, ?, ?, NOW(6), NOW(6))
            ON DUPLICATE KEY UPDATE
              state = COALESCE(?, state),
              groups_list = COALESCE(?, groups_list),
              envs = COALESCE(?, envs),
              envs_detected = VALUES(envs_detected),
              slots_given = IF(? IS NOT NULL, 1, slots_given),
              slots = IF(? IS NOT NULL, ?, IF(slots_given, slots, VALUES(cpus))),
              cpus = VALUES(cpus), load1 = VALUES(load1), load5 = VALUES(load5), load15 = VALUES(load15),
              mem_total = VALUES(mem_total), mem_available = VALUES(mem_available),
              unix_user = VALUES(unix_user), octo_version = VALUES(octo_version), last_seen = NOW(6)
            """,
            [
                .text(name), state, groups, envs, .text(detected.joined(separator: ",")), slots, .int(Int64(cpus)),
                slots,
                .int(Int64(cpus)), .double(load.0), .double(load.1), .double(load.2), .uint(mem.total),
                .uint(mem.available),
                .text(user), .text(OctoVersion.string),
                state, groups, envs, slots, slots, slots
            ])
        if r.state == .removed {
            // its queued runs go back to any eligible machine (routing is redone by the producer)
            try db.execute("UPDATE queue SET machine = NULL WHERE machine = ?", [.text(name)])
            try db.execute("UPDATE runs SET machine = NULL WHERE machine = ? AND state = 'queued'", [.text(name)])
        }
        return try get(db, name)!
    }

    public static func get(_ db: Connection, _ name: String) throws -> Machine? {
        try db.query(select + " WHERE name = ?", [.text(name)]).first.map(machine(from:))
    }

    /// A machine with the facts `octo sh machines` shows about it.
    public struct Status: Sendable {
        public let machine: Machine
        /// active, draining, stale or removed.
        public let shownState: String
        public let age: Double
        public let slotsInUse: Int
    }

    /// Every machine, by name, with its liveness: a machine not seen for
    /// longer than `ttl` seconds is stale.
    public static func statuses(_ db: Connection, ttl: Int64) throws -> [Status] {
        let rows = try db.query(
            """
            SELECT m.*, TIMESTAMPDIFF(MICROSECOND, m.last_seen, NOW(6)) AS age_us,
                   (SELECT COUNT(*) FROM runs r WHERE r.machine = m.name AND r.state = 'running') AS in_use
            FROM machines m ORDER BY m.name
            """
        ).rows
        return try rows.map { row in
            let m = try machine(from: row)
            let age = Double(try row.decode("age_us", as: Int64.self)) / 1_000_000
            let shown = m.state == .active && age > Double(ttl) ? "stale" : m.state.rawValue
            return Status(machine: m, shownState: shown, age: age, slotsInUse: try row.decode("in_use"))
        }
    }

    static let select = "SELECT * FROM machines"

    static func list(_ s: String) -> [String] { s.split(separator: ",").map(String.init) }

    static func machine(from r: Row) throws -> Machine {
        var m = Machine(name: try r.decode("name"))
        m.state = try r.decode("state")
        m.groups = list(try r.decode("groups_list"))
        m.envs = list(try r.decode("envs"))
        m.detectedEnvs = list(try r.decode("envs_detected"))
        m.slots = try r.decode("slots")
        m.cpus = try r.decode("cpus")
        m.load = (try r.decode("load1"), try r.decode("load5"), try r.decode("load15"))
        m.memTotal = try r.decode("mem_total")
        m.memAvailable = try r.decode("mem_available")
        m.unixUser = try r.decode("unix_user")
        m.octoVersion = try r.decode("octo_version")
        m.firstSeen = try r.decode("first_seen")
        m.lastSeen = try r.decode("last_seen")
        return m
    }
}
