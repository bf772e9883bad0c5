import MariaDB
import OctoCore
import TestSupport
import Testing

/// A host list against real servers: two private MariaDB servers on loopback TCP, each with an account that has
/// no SUPER (so `read_only` holds for it, as for octo's account in a deployment).
@Suite(.database, .bounded)
struct HostListTests {
    func freePort() async throws -> Int {
        let r = try await Shell.run(
            "python3 -c 'import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'")
        return try #require(Int(r.stdout.trimmingWhitespace()), "\(r.stderr)")
    }

    func admin(_ server: PrivateServer, _ sql: String) async throws {
        let r = try await Shell.run(
            "mariadb --defaults-file=\"$CNF\" -e \"$SQL\"", environment: ["CNF": server.defaultsFile, "SQL": sql])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func theFirstWritableServerIsUsedAndAReadOnlyOneNever() async throws {
        let (pa, pb, closed) = (try await freePort(), try await freePort(), try await freePort())
        let (a, b) = (PrivateServer(tcpPort: pa), PrivateServer(tcpPort: pb))
        do {
            try await check(a, b, pa, pb, closed)
        } catch {
            Issue.record(error)
        }
        // both servers stopped and removed on every path (a started server outlives the test process)
        await a.remove()
        await b.remove()
    }

    func check(_ a: PrivateServer, _ b: PrivateServer, _ pa: Int, _ pb: Int, _ closed: Int) async throws {
        try await a.start()
        try await b.start()
        for s in [a, b] {
            try await admin(
                s,
                """
                CREATE USER 'octo'@'127.0.0.1' IDENTIFIED BY 'pw'; CREATE DATABASE t;
                GRANT ALL ON t.* TO 'octo'@'127.0.0.1'; CREATE TABLE t.x (id INT PRIMARY KEY);
                """)
        }
        try await admin(a, "SET GLOBAL read_only = 1")
        var o = ConnectionOptions()
        (o.readOptionFiles, o.user, o.password, o.database, o.connectTimeout) = (false, "octo", "pw", "t", 5)
        let (ha, hb) = (
            ConnectionOptions.Host("127.0.0.1", port: UInt32(pa)), ConnectionOptions.Host("127.0.0.1", port: UInt32(pb))
        )
        o.hosts = [ConnectionOptions.Host("127.0.0.1", port: UInt32(closed)), ha, hb]
        // nothing listens on the first, the second is read-only: the third
        let db = try Connection(o)
        defer { db.close() }
        #expect(db.server == hb)
        try db.execute("INSERT INTO x VALUES (1)")

        // a switch-over: b read-only, a writable; the next write meets 1290 on b and is retried on a
        try await admin(b, "SET GLOBAL read_only = 1")
        try await admin(a, "SET GLOBAL read_only = 0")
        _ = try db.retrying { db in try db.execute("INSERT INTO x VALUES (2)") }
        #expect(db.server == ha)
        #expect(try db.query("SELECT COUNT(*) AS n FROM x WHERE id = 2").first!.decode("n", as: Int64.self) == 1)

        // no writable server: a read-only error (retried by the unit of work) naming every server
        try await admin(a, "SET GLOBAL read_only = 1")
        do {
            _ = try Connection(o)
            Issue.record("a connection was made with every server read-only")
        } catch {
            #expect(error.code == .readOnly && error.isTransient, "\(error)")
            #expect(
                error.message.contains("\(ha) is read-only") && error.message.contains("\(hb) is read-only"),
                "\(error.message)")
        }

        // octo doctor shows each server, and fails with no writable primary, or with two
        let cnf = a.directory.write("octo.cnf", "[client]\nuser = octo\npassword = pw\n[octo]\ndatabase = t\n")
        let env = ["OCTO_DEFAULTS_FILE": cnf, "OCTO_DB_HOST": "127.0.0.1:\(pa),127.0.0.1:\(pb)"]
        let none = try await OctoBinary.run(["doctor"], environment: env)
        #expect(none.status == 1 && none.stdout.contains("no writable primary"), "\(none.stdout)")
        try await admin(a, "SET GLOBAL read_only = 0")
        try await admin(b, "SET GLOBAL read_only = 0")
        let two = try await OctoBinary.run(["doctor"], environment: env)
        #expect(two.stdout.contains("split brain: \(ha) and \(hb) are both writable"), "\(two.stdout)")
        try await admin(b, "SET GLOBAL read_only = 1")
        let one = try await OctoBinary.run(["doctor", "--json"], environment: env)
        #expect(one.stdout.contains("\(ha) primary") && one.stdout.contains("\(hb) read-only"), "\(one.stdout)")

        // a bad entry: exit 2, one line naming it, nothing connected
        let bad = try await OctoBinary.run(["doctor"], environment: ["OCTO_DB_HOST": "127.0.0.1:\(pa),,db2"])
        #expect(bad.status == 2 && bad.stderr.contains("invalid host ''"), "\(bad.stderr)")
        let badPort = try await OctoBinary.run(["sh", "ls"], environment: ["OCTO_DB_HOST": "db1:99999,db2"])
        #expect(badPort.status == 2 && badPort.stderr.contains("invalid host 'db1:99999'"), "\(badPort.stderr)")
    }
}
