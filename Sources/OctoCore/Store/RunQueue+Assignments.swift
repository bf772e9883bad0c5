import MariaDB
import OctoTime

/// Queued runs assigned to a machine, and moving them (`Producer.reroute`).
extension RunQueue {
    /// A queued run assigned to a machine.
    public struct Assignment: Sendable, Equatable {
        public var runID: Int64
        public var jobID: Int64
        public var machine: String
        /// The machine of a broadcast run; empty otherwise.
        public var routeKey: String
    }

    /// The machines queued runs are assigned to.
    public static func assignedMachines(_ db: Connection) throws -> [String] {
        try db.query("SELECT DISTINCT machine FROM queue WHERE machine IS NOT NULL").rows.map {
            try $0.decode("machine")
        }
    }

    /// The queued runs assigned to `machine`.
    public static func assignments(_ db: Connection, machine: String) throws -> [Assignment] {
        try db.query(
            """
            SELECT q.run_id, q.job_id, q.machine, r.route_key FROM queue q JOIN runs r ON r.id = q.run_id
            WHERE q.machine = ?
            """, [.text(machine)]
        ).rows.map(assignment)
    }

    /// Queued runs assigned to a registered machine that may not run them (the
    /// job's user or target was edited, the machine left a group): the claim
    /// never takes them.
    public static func ineligibleAssignments(_ db: Connection) throws -> [Assignment] {
        try db.query(
            """
            SELECT q.run_id, q.job_id, q.machine, r.route_key FROM queue q JOIN machines m ON m.name = q.machine JOIN runs r ON r.id = q.run_id
            WHERE NOT ((q.run_user = '' OR q.run_user = m.unix_user)
              AND (q.target = 'any' OR FIND_IN_SET(m.name, q.target) > 0
                   OR (q.target LIKE 'group:%' AND FIND_IN_SET(SUBSTRING(q.target, 7), m.groups_list) > 0)))
            """
        ).rows.map(assignment)
    }

    /// Locks the queue row of `a` if it is still queued on its machine and no
    /// one else holds it. Inside the caller's transaction.
    static func lockAssignment(_ db: Connection, _ a: Assignment) throws -> Bool {
        try db.query(
            "SELECT run_id FROM queue WHERE run_id = ? AND machine = ? FOR UPDATE SKIP LOCKED",
            [.int(a.runID), .text(a.machine)]
        ).first != nil
    }

    /// Assigns a queued run to `machine` (nil: any eligible machine).
    static func assign(_ db: Connection, _ runID: Int64, to machine: String?) throws {
        try db.execute("UPDATE queue SET machine = ? WHERE run_id = ?", [machine.sqlValue, .int(runID)])
        try db.execute("UPDATE runs SET machine = ? WHERE id = ? AND state = 'queued'", [machine.sqlValue, .int(runID)])
    }

    private static func assignment(_ r: Row) throws -> Assignment {
        Assignment(
            runID: try r.decode("run_id"), jobID: try r.decode("job_id"), machine: try r.decode("machine"),
            routeKey: try r.decode("route_key"))
    }
}
