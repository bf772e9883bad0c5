import MariaDB
import OctoCore
import OctoTime
import Testing

/// What the end-to-end tests of producing, claiming and running share: a
/// fresh database with `octo init` run, the binary against it, jobs and
/// machines, a job's runs.

/// A fresh database with octo's schema, and a connection to it (closed afterwards).
public func withInit(_ body: (FreshDatabase, Connection) async throws -> Void) async throws {
    try await TestDatabase.withFresh { fresh in
        #expect(try await OctoBinary.run(["init", "-q"], environment: fresh.environment).status == 0)
        let db = try fresh.connect()
        defer { db.close() }
        try await body(fresh, db)
    }
}

/// `octo ARGS…` against `fresh`.
public func octo(_ fresh: FreshDatabase, _ args: [String]) async throws -> OctoBinary.Result {
    try await OctoBinary.run(args, environment: fresh.environment)
}

/// Adds a job with `attributes` (attribute names as in `octo sh show`).
@discardableResult
public func addJob(_ db: Connection, _ name: String, _ command: String, _ attributes: [String: String] = [:]) throws
    -> Job
{
    var j = Job(name: name, command: command)
    for (k, v) in attributes { try Job.attribute(k)!.set(&j, v) }
    return try JobStore.add(db, j, by: "test", defaultZone: "UTC")
}

/// `octo register --machine MACHINE EXTRA…`, expected to succeed.
public func register(_ fresh: FreshDatabase, _ machine: String, _ extra: [String] = []) async throws {
    let r = try await octo(fresh, ["register", "--machine", machine] + extra)
    #expect(r.status == 0, "\(r.stderr)")
}

/// Every run of `job`, oldest first.
public func runs(_ db: Connection, _ job: String) throws -> [Run] {
    try RunQueue.history(db, job: job, limit: 10_000).reversed()
}
