import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

@Suite(.database, .bounded)
struct RegisterTests {
    func withInit(_ body: (FreshDatabase) async throws -> Void) async throws {
        try await TestDatabase.withFresh { fresh in
            #expect(try await OctoBinary.run(["init", "-q"], environment: fresh.environment).status == 0)
            try await body(fresh)
        }
    }

    func register(_ fresh: FreshDatabase, _ args: String...) async throws -> OctoBinary.Result {
        try await OctoBinary.run(["register"] + args, environment: fresh.environment)
    }

    @Test func flagsAreRememberedAndStatesChange() async throws {
        try await withInit { fresh in
            var r = try await register(
                fresh, "--machine", "w1", "--group", "etl", "--group", "web", "--env", "php,python3", "--slots", "4")
            #expect(r.status == 0, "\(r.stderr)")
            let db = try fresh.connect()
            defer { db.close() }
            var m = try #require(try MachineStore.get(db, "w1"))
            #expect(m.groups == ["etl", "web"] && m.envs == ["php", "python3"] && m.slots == 4 && m.state == .active)
            #expect(m.cpus == HostFacts.cpuCount())
            #expect(m.unixUser == currentUserName())
            let firstSeen = m.firstSeen
            let lastSeen = try #require(m.lastSeen)

            r = try await register(fresh, "--machine", "w1")  // as cron runs it
            m = try #require(try MachineStore.get(db, "w1"))
            #expect(
                m.groups == ["etl", "web"] && m.envs == ["php", "python3"] && m.slots == 4,
                "plain register keeps the flags")
            #expect(m.firstSeen == firstSeen)
            #expect(try #require(m.lastSeen) > lastSeen)

            _ = try await register(fresh, "--machine", "w1", "--drain")
            _ = try await register(fresh, "--machine", "w1")
            #expect(try MachineStore.get(db, "w1")?.state == .draining, "draining is remembered")
            _ = try await register(fresh, "--machine", "w1", "--active")
            #expect(try MachineStore.get(db, "w1")?.state == .active)

            // interpreters on PATH are detected with their versions (bash is always there)
            let detected = try #require(try MachineStore.get(db, "w1")).detectedEnvs
            #expect(detected.contains { $0.hasPrefix("bash ") && HostFacts.version(in: $0) != nil }, "\(detected)")
            // and asked again only when the set on PATH changes: a stale record stays as it is…
            try db.execute(
                "UPDATE machines SET envs_detected = ? WHERE name = 'w1'",
                [.text(detected.map { $0.split(separator: " ")[0] + " 0.0" }.joined(separator: ","))])
            _ = try await register(fresh, "--machine", "w1")
            #expect(try MachineStore.get(db, "w1")?.detectedEnvs.allSatisfy { $0.hasSuffix(" 0.0") } == true)
            // …until it differs from what is on PATH
            try db.execute("UPDATE machines SET envs_detected = 'cobol 1.0' WHERE name = 'w1'")
            _ = try await register(fresh, "--machine", "w1")
            #expect(try MachineStore.get(db, "w1")?.detectedEnvs == detected)

            // `--group ''` and `--env ''` clear the remembered lists (nothing else could); '' among names is refused
            r = try await register(fresh, "--machine", "w1", "--group", "", "--group", "etl")
            #expect(r.status == 2 && r.stderr.contains("invalid group ''"), "\(r.stderr)")
            r = try await register(fresh, "--machine", "w1", "--env", "php,")
            #expect(r.status == 2 && r.stderr.contains("invalid environment ''"), "\(r.stderr)")
            #expect(try MachineStore.get(db, "w1")?.groups == ["etl", "web"])
            r = try await register(fresh, "--machine", "w1", "--group", "", "--env", "")
            #expect(r.status == 0, "\(r.stderr)")
            m = try #require(try MachineStore.get(db, "w1"))
            #expect(m.groups.isEmpty && m.envs.isEmpty && m.slots == 4, "\(m.groups) \(m.envs)")
            _ = try await register(fresh, "--machine", "w1")
            #expect(try MachineStore.get(db, "w1")?.groups.isEmpty == true, "an empty list is remembered too")

            // a machine without --slots follows its CPU count
            _ = try await register(fresh, "--machine", "w2")
            #expect(try MachineStore.get(db, "w2")?.slots == HostFacts.cpuCount())
        }
    }

    @Test func removeReroutesQueuedRunsAndStaysRemoved() async throws {
        try await withInit { fresh in
            _ = try await register(fresh, "--machine", "w3")
            let db = try fresh.connect()
            defer { db.close() }
            try db.execute(
                "INSERT INTO queue (run_id, job_id, machine, not_before) VALUES (1, 1, 'w3', NOW(6)), (2, 1, 'w4', NOW(6))"
            )
            let r = try await register(fresh, "--machine", "w3", "--remove")
            #expect(r.status == 0)
            let machines = try db.query("SELECT run_id, machine FROM queue ORDER BY run_id").rows.map {
                try $0.decode("machine", as: String?.self)
            }
            #expect(machines == [nil, "w4"])
            let again = try await register(fresh, "--machine", "w3")
            #expect(again.stderr.contains("machine 'w3' is removed"))
            #expect(try MachineStore.get(db, "w3")?.state == .removed)
        }
    }

    @Test func silentMachinesAreStale() async throws {
        try await withInit { fresh in
            _ = try await register(fresh, "--machine", "fresh-one")
            _ = try await register(fresh, "--machine", "silent-one")
            // a TTL far longer than this test can take on a loaded machine, so fresh-one stays fresh
            var r = try await OctoBinary.run(["sh", "settings", "machine_ttl", "5m"], environment: fresh.environment)
            #expect(r.status == 0)
            let db = try fresh.connect()
            defer { db.close() }
            // the machine stopped reporting 10 minutes ago (instead of sleeping in a test)
            try db.execute("UPDATE machines SET last_seen = NOW(6) - INTERVAL 10 MINUTE WHERE name = ?", ["silent-one"])
            r = try await OctoBinary.run(["sh", "machines"], environment: fresh.environment)
            #expect(r.status == 0)
            let states = Dictionary(
                uniqueKeysWithValues: r.lines.dropFirst().map { l in
                    let f = l.split(separator: " ", omittingEmptySubsequences: true)
                    return (String(f[0]), String(f[1]))
                })
            #expect(states == ["fresh-one": "active", "silent-one": "stale"])
        }
    }

    @Test func tenMachinesRegisteringAtOnce() async throws {
        try await withInit { fresh in
            for round in 1...3 {
                let results = try await withThrowingTaskGroup(of: OctoBinary.Result.self) { group in
                    for i in 1...10 {
                        group.addTask {
                            try await OctoBinary.run(
                                ["register", "--machine", "m\(i)", "--group", "g\(round)"],
                                environment: fresh.environment)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(results.allSatisfy { $0.status == 0 && $0.stderr.isEmpty }, "\(results.map(\.stderr))")
            }
            let db = try fresh.connect()
            defer { db.close() }
            let rows = try db.query("SELECT name, groups_list FROM machines ORDER BY name").rows
            #expect(rows.count == 10)
            #expect(Set(try rows.map { try $0.decode("name", as: String.self) }) == Set((1...10).map { "m\($0)" }))
            #expect(try rows.allSatisfy { try $0.decode("groups_list", as: String.self) == "g3" })
        }
    }

    @Test(
        arguments: [
            (["--group", "has space"], "invalid group 'has space'"),
            (["--group", "tab\there"], "invalid group 'tab\\there'"),
            (["--env", "php,py thon"], "invalid environment 'py thon'"),
            (["--env", "php,,java"], "invalid environment ''"),
            (["--slots", "0"], "invalid slots '0'"),
            (["--slots=-3"], "invalid slots '-3'"),
            (["--machine", String(repeating: "m", count: 65)], "invalid machine name"),
            (["--drain", "--remove"], "exclude each other")
        ] as [([String], String)])
    func badInputWritesNothing(_ args: [String], _ expected: String) async throws {
        try await withInit { fresh in
            let r = try await OctoBinary.run(["register"] + args, environment: fresh.environment)
            #expect(r.status == 2)
            #expect(
                r.stderr.hasPrefix("octo: ") && r.stderr.contains(expected)
                    && r.stderr.filter { $0 == "\n" }.count == 1, "\(r.stderr)")
            let db = try fresh.connect()
            defer { db.close() }
            #expect(try db.query("SELECT COUNT(*) AS n FROM machines").first!.decode("n", as: Int.self) == 0)
        }
    }
}
