import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

/// The audit trail end to end: every action a person takes through the
/// built binary leaves exactly one `audit` row (actor, action, what it
/// touched, old and new values), a refused one leaves none.
@Suite(.database, .bounded)
struct AuditTests {
    /// One audit row as stored.
    struct Row: Equatable, CustomStringConvertible {
        var actor: String
        var action: String
        var job: String?
        var run: Int64?
        var subject: String
        var changes: JSON
        var description: String {
            "\(actor) \(action) \(job ?? "-") \(run.map(String.init) ?? "-") \(subject) \(changes)"
        }
    }

    final class Env: @unchecked Sendable {  // used by one test at a time, never concurrently
        let db: Connection
        let environment: [String: String]
        var seen: Int64 = 0
        init(_ db: Connection, _ environment: [String: String]) { (self.db, self.environment) = (db, environment) }

        /// Runs octo with a user name in USER and LOGNAME that is not the process's: the actor must not take it.
        func octo(_ args: String..., input: String? = nil) async throws -> OctoBinary.Result {
            try await OctoBinary.run(
                args, environment: environment.merging(["USER": "mallory", "LOGNAME": "mallory"]) { $1 },
                input: input)
        }

        /// The audit rows written since the last call.
        func newRows() throws -> [Row] {
            let rows = try db.query(
                "SELECT id, actor, action, job_name, run_id, subject, changes FROM audit WHERE id > ? ORDER BY id",
                [.int(seen)]
            ).rows
            if let last = rows.last { seen = try last.decode("id") }
            return try rows.map { r in
                Row(
                    actor: try r.decode("actor"), action: try r.decode("action"), job: try r.decode("job_name"),
                    run: try r.decode("run_id"), subject: try r.decode("subject"),
                    changes: JSON.parse(try r.decode("changes")) ?? .null)
            }
        }

        /// Runs octo, expects exit 0 and exactly one new audit row, returns it.
        func oneRow(_ args: String..., input: String? = nil, sourceLocation: SourceLocation = #_sourceLocation)
            async throws -> Row?
        {
            let r = try await OctoBinary.run(
                args, environment: environment.merging(["USER": "mallory", "LOGNAME": "mallory"]) { $1 },
                input: input)
            #expect(r.status == 0, "\(args): \(r.stderr)", sourceLocation: sourceLocation)
            let rows = try newRows()
            #expect(rows.count == 1, "\(args) wrote \(rows)", sourceLocation: sourceLocation)
            return rows.first
        }
    }

    static let me = currentUserName() + "@w1"

    func pair(_ old: JSON, _ new: JSON) -> JSON { .array([old, new]) }

    @Test func everyActionWritesOneRowWithActorActionAndChange() async throws {
        try await TestDatabase.withInitializedOcto { db, environment, _ in
            let env = Env(db, environment)
            _ = try env.newRows()  // init writes none, but skip whatever is there
            // add: every attribute, [null, value]
            var row = try await env.oneRow(
                "sh", "add", "load", "--command", "echo 'it''s' 日本", "--schedule", "0 2 * * *")
            #expect(row?.actor == Self.me && row?.action == "add" && row?.job == "load")
            guard case .object(let added) = row?.changes else {
                Issue.record("not an object: \(String(describing: row))")
                return
            }
            #expect(added["command"] == pair(.null, .string("echo 'it''s' 日本")))
            #expect(added["schedule"] == pair(.null, .string("0 2 * * *")))
            #expect(added["retries"] == pair(.null, .string("0")))
            #expect(added.count == Job.attributes.count)

            // edit: only what changed
            row = try await env.oneRow("sh", "edit", "load", "--schedule", "0 3 * * *", "--retries", "2")
            #expect(row?.action == "edit" && row?.actor == Self.me)
            #expect(
                row?.changes
                    == .object([
                        "schedule": pair(.string("0 2 * * *"), .string("0 3 * * *")),
                        "retries": pair(.string("0"), .string("2"))
                    ]))

            row = try await env.oneRow("sh", "pause", "load")
            #expect(
                row?.action == "pause" && row?.changes == .object(["paused": pair(.string("false"), .string("true"))]))
            row = try await env.oneRow("sh", "resume", "load")
            #expect(
                row?.action == "resume" && row?.changes == .object(["paused": pair(.string("true"), .string("false"))]))

            // run: the run it queued
            row = try await env.oneRow("sh", "run", "load")
            let runID = try db.query("SELECT MAX(id) AS id FROM runs WHERE job_name = 'load'").first!.decode(
                "id", as: Int64.self)
            #expect(row?.action == "run" && row?.job == "load" && row?.run == runID)
            #expect(row?.changes == .object(["runs": pair(.null, .array([.int(runID)]))]))

            // kill of that run: its state
            row = try await env.oneRow("sh", "kill", "\(runID)")
            #expect(row?.action == "kill" && row?.run == runID && row?.job == "load")
            #expect(row?.changes == .object(["state": pair(.string("queued"), .string("cancelled"))]))

            // settings: old and new value
            row = try await env.oneRow("sh", "settings", "run_retention", "10d")
            #expect(row?.action == "settings" && row?.subject == "settings" && row?.job == nil)
            #expect(row?.changes == .object(["run_retention": pair(.string("30d"), .string("10d"))]))

            // cursor set by hand
            row = try await env.oneRow("cursor", "set", "load", "2026-01-01")
            #expect(row?.action == "cursor set" && row?.job == "load")
            #expect(row?.changes == .object(["cursor": pair(.null, .string("2026-01-01"))]))
            row = try await env.oneRow("cursor", "set", "load", "2026-01-02")
            #expect(row?.changes == .object(["cursor": pair(.string("2026-01-01"), .string("2026-01-02"))]))

            // register --drain / --remove / --active: the machine's state
            _ = try await env.octo("register")
            #expect(try env.newRows().isEmpty, "a heartbeat is no change of a person's")
            for (flag, action, old, new) in [
                ("--drain", "register --drain", "active", "draining"),
                ("--remove", "register --remove", "draining", "removed"),
                ("--active", "register --active", "removed", "active")
            ] {
                row = try await env.oneRow("register", flag)
                #expect(row?.action == action && row?.subject == "machine w1" && row?.actor == Self.me)
                #expect(row?.changes == .object(["state": pair(.string(old), .string(new))]))
            }

            // alerts ack
            try db.transaction {
                _ = try AlertStore.record(
                    db, [Occurrence(.failed, job: "load", runID: runID, at: try JobStore.serverNow(db), line: "x")],
                    window: 60)
            }
            let alertID = try db.query("SELECT MAX(id) AS id FROM alerts").first!.decode("id", as: Int64.self)
            row = try await env.oneRow("sh", "alerts", "ack", "\(alertID)")
            #expect(row?.action == "alerts ack" && row?.subject == "alert \(alertID)" && row?.job == "load")
            #expect(row?.changes == .object(["state": pair(.string("pending"), .string("acked"))]))

            // rm: the definition it had, [value, null]
            row = try await env.oneRow("sh", "rm", "load")
            #expect(row?.action == "rm" && row?.job == "load")
            guard case .object(let removed) = row?.changes else {
                Issue.record("not an object")
                return
            }
            #expect(removed["schedule"] == pair(.string("0 3 * * *"), .null))
            #expect(removed.count == Job.attributes.count)

            // the trail of a removed job is still listed, newest first, with the documented JSON fields
            let r = try await env.octo("sh", "audit", "load", "--json")
            #expect(r.status == 0, "\(r.stderr)")
            guard case .array(let listed) = JSON.parse(r.stdout) else {
                Issue.record("not JSON: \(r.stdout)")
                return
            }
            #expect(listed.count == 10)  // add, edit, pause, resume, run, kill, 2 cursor sets, ack, rm
            guard case .object(let newest) = listed.first else {
                Issue.record("not an object")
                return
            }
            #expect(Set(newest.keys) == ["id", "at", "actor", "action", "job", "run", "subject", "changes"])
            #expect(newest["action"] == .string("rm") && newest["actor"] == .string(Self.me))
            let all = try await env.octo("sh", "audit")
            #expect(all.status == 0 && all.lines.count == 1 + 14, "\(all.stdout)")
            #expect(all.stdout.contains("schedule \"0 2 * * *\" → \"0 3 * * *\""), "\(all.stdout)")
        }
    }

    @Test func applyWritesOneRowPerJobItChangesAndNothingChangedWritesNone() async throws {
        try await TestDatabase.withInitializedOcto { db, environment, _ in
            let env = Env(db, environment)
            _ = try await env.octo("sh", "add", "keep", "--command", "true")
            _ = try await env.octo("sh", "add", "old", "--command", "true")
            _ = try await env.octo("sh", "add", "same", "--command", "true")
            _ = try env.newRows()
            let file = """
                jobs:
                  - name: keep
                    command: "false"
                  - name: same
                    command: "true"
                  - name: new
                    command: echo new
                """
            let r = try await env.octo("sh", "apply", "--prune", "-", input: file)
            #expect(r.status == 0, "\(r.stderr)")
            let rows = try env.newRows().sorted { ($0.job ?? "") < ($1.job ?? "") }
            #expect(rows.map(\.job) == ["keep", "new", "old"], "\(rows)")
            guard rows.count == 3 else { return }
            #expect(rows.allSatisfy { $0.action == "apply" && $0.actor == Self.me })
            #expect(rows.first?.changes == .object(["command": pair(.string("true"), .string("false"))]))
            guard case .object(let created) = rows[1].changes, case .object(let removed) = rows[2].changes else {
                Issue.record("\(rows)")
                return
            }
            #expect(created["command"] == pair(.null, .string("echo new")))
            #expect(removed["command"] == pair(.string("true"), .null))
            // the same file again changes nothing: no row; a pause of a paused job neither
            _ = try await env.octo("sh", "apply", "--prune", "-", input: file)
            _ = try await env.octo("sh", "pause", "keep")
            _ = try env.newRows()
            _ = try await env.octo("sh", "pause", "keep")
            #expect(try env.newRows().isEmpty)
        }
    }

    @Test func refusedChangesWriteNoRow() async throws {
        try await TestDatabase.withInitializedOcto { db, environment, _ in
            let env = Env(db, environment)
            _ = try await env.octo("sh", "add", "load", "--command", "true")
            _ = try env.newRows()
            let refused: [[String]] = [
                ["sh", "add", "bad", "--command", "true", "--schedule", "61 * * * *"],
                ["sh", "add", "load", "--command", "true"],
                ["sh", "edit", "load", "--retries", "-1"],
                ["sh", "edit", "nosuch", "--retries", "1"],
                ["sh", "rm", "nosuch"],
                ["sh", "pause", "nosuch"],
                ["sh", "settings", "lease", "1s"],
                ["sh", "settings", "nosuch", "1"],
                ["cursor", "set", "nosuch", "x"],
                ["register", "--drain", "--slots", "0"],
                ["sh", "alerts", "ack", "999"],
                ["sh", "kill", "999"],
                ["sh", "audit", "--since", "soon"]
            ]
            for args in refused {
                let r = try await OctoBinary.run(args, environment: environment)
                #expect(r.status != 0, "\(args) succeeded")
                #expect(try env.newRows().isEmpty, "\(args) wrote an audit row")
            }
            let r = try await env.octo("sh", "audit", "--since", "soon")
            #expect(r.status == 2 && r.stderr.contains("'soon'"), "\(r.stderr)")
        }
    }

    @Test func theMonitorPurgesRowsOlderThanAuditRetention() async throws {
        try await TestDatabase.withInitializedOcto { db, environment, _ in
            let env = Env(db, environment)
            _ = try await env.octo("sh", "add", "load", "--command", "true")
            _ = try await env.octo("sh", "edit", "load", "--retries", "1")
            // the add happened 400 days ago, the edit 300 (the default retention is 365 days)
            try db.execute("UPDATE audit SET at = NOW(6) - INTERVAL 400 DAY WHERE action = 'add'")
            try db.execute("UPDATE audit SET at = NOW(6) - INTERVAL 300 DAY WHERE action = 'edit'")
            let r = try await env.octo("monitor", "--json")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("\"audit_purged\":1"), "\(r.stdout)")
            let left = try db.query("SELECT action FROM audit ORDER BY id").rows.map {
                try $0.decode("action", as: String.self)
            }
            #expect(left == ["edit"])
        }
    }
}
