import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

/// Issue 18 §1: a stored domain value that is not one of its cases is an
/// error naming the column and the value — never a silent default.
@Suite(.database, .bounded)
struct DomainValueTests {
    @Test(
        arguments: [
            ("UPDATE jobs SET strategy = 'sideways'", ["sh", "show", "j"], "column 'strategy'", "\"sideways\""),
            ("UPDATE jobs SET concurrency = 'often'", ["sh", "ls"], "column 'concurrency'", "\"often\""),
            ("UPDATE jobs SET misfire = 'later'", ["sh", "show", "j"], "column 'misfire'", "\"later\""),
            ("UPDATE jobs SET alert_level = 'loud'", ["sh", "show", "j"], "column 'alert_level'", "\"loud\""),
            ("UPDATE runs SET state = 'exploded'", ["sh", "runs", "j"], "column 'state'", "\"exploded\""),
            ("UPDATE runs SET trigger_kind = 'whim'", ["sh", "runs", "j"], "column 'trigger_kind'", "\"whim\"")
        ] as [(String, [String], String, String)])
    func aStoredValueThatIsNoCaseIsAnErrorNamingColumnAndValue(
        _ corrupt: String, _ command: [String], _ column: String, _ value: String
    ) async throws {
        try await TestDatabase.withFresh { fresh in
            let env = fresh.environment.merging(["TZ": "UTC"]) { $1 }
            #expect(try await OctoBinary.run(["init", "-q"], environment: env).status == 0)
            #expect(try await OctoBinary.run(["sh", "add", "j", "--command", "true"], environment: env).status == 0)
            #expect(try await OctoBinary.run(["sh", "run", "j"], environment: env).status == 0)
            // before the damage the command works: the failure below is the stored value's
            #expect(try await OctoBinary.run(command, environment: env).status == 0)
            let db = try fresh.connect()
            defer { db.close() }
            try db.execute(corrupt)
            let r = try await OctoBinary.run(command, environment: env)
            #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains(column) && r.stderr.contains(value), "\(r.stderr)")
            #expect(r.stderr.filter { $0 == "\n" }.count == 1, "\(r.stderr)")
        }
    }
}
