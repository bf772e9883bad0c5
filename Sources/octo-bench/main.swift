// Benchmark driver for scripts/bench (not installed, not a subcommand).
//
//   octo-bench next-fire FILE SECONDS
//   octo-bench claim RUNS
//
// next-fire: FILE holds "ZONE<TAB>EXPRESSION" lines. Computes next fires for
// all of them in a loop on one thread for about SECONDS and prints the rate.
// claim: queues RUNS manual runs of a job `bench-claim` (database from
// OCTO_DEFAULTS_FILE), then claims and completes them one by one through
// RunQueue (no process is started) and prints the rate: the cost of the claim
// path alone, for comparing an empty history with a large one.
import MariaDB
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

let args = CommandLine.arguments
if args.count == 3, args[1] == "claim", let runs = Int(args[2]) {
    let config = try OctoConfig(defaultsFile: nil, machine: "bench-claim", environment: processEnvironment())
    let db = try config.connect()
    var r = MachineStore.Registration()
    r.slots = 1024
    _ = try MachineStore.register(db, name: "bench-claim", r, user: currentUserName(), path: "", by: "bench")
    var job = try JobStore.get(db, "bench-claim")
    if job == nil {
        var j = Job(name: "bench-claim", command: "true")
        j.concurrency = .allow
        j.maxParallel = 1_000_000
        job = try JobStore.add(db, j, by: "bench", defaultZone: "UTC")
    }
    let now = try JobStore.serverNow(db)
    try db.transaction {
        for k in 0..<runs {
            try RunQueue.enqueue(db, job: job!, .init(fireTime: now + .microseconds(Int64(k)), trigger: .manual))
        }
    }
    let start = monotonic()
    var done = 0
    while true {
        let claimed = try RunQueue.claim(db, machine: "bench-claim", limit: 1, lease: 60)
        guard let c = claimed.first else { break }
        try RunQueue.complete(db, c, .init(state: .succeeded, exitCode: 0))
        done += 1
    }
    let elapsed = monotonic() - start
    print("claim: \(done) claims and completions in \(format3(elapsed)) s = \(Int(Double(done) / elapsed)) per second")
    exit(done == runs ? 0 : 1)
}
guard args.count == 4, args[1] == "next-fire", let seconds = Double(args[3]), let bytes = readFileBytes(args[2]) else {
    print("usage: octo-bench next-fire FILE SECONDS")
    exit(2)
}
var schedules: [(Schedule, Zone)] = []
for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
    let parts = line.split(separator: "\t", maxSplits: 1)
    schedules.append((try Schedule(String(parts[1])), try Zone.named(String(parts[0]))))
}
var t = Instant(year: 2026, month: 1, day: 1)!
var count = 0
var checksum: Int64 = 0
let start = monotonic()
var elapsed = 0.0
repeat {
    for (s, z) in schedules {
        if let n = s.next(after: t, in: z) { checksum &+= n.microseconds }
        count += 1
    }
    t = t + .seconds(3_607)  // move on so the work is not the same each round
    elapsed = monotonic() - start
} while elapsed < seconds
print(
    "next-fire: \(count) computations in \(String(format3(elapsed))) s = \(Int(Double(count) / elapsed)) per second (checksum \(checksum & 0xffff))"
)

func format3(_ v: Double) -> String {
    String(Int(v)) + "." + String(Int((v - Double(Int(v))) * 1000) + 1000).dropFirst()
}
