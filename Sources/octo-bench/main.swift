// Benchmark driver for scripts/bench (not installed, not a subcommand).
//
//   octo-bench next-fire FILE SECONDS
//
// FILE holds "ZONE<TAB>EXPRESSION" lines. Computes next fires for all of them
// in a loop on one thread for about SECONDS and prints the rate.
import MariaDB
import OctoCore

#if canImport(Glibc)
import Glibc
#endif

func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

let args = CommandLine.arguments
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
print("next-fire: \(count) computations in \(String(format3(elapsed))) s = \(Int(Double(count) / elapsed)) per second (checksum \(checksum & 0xffff))")

func format3(_ v: Double) -> String { String(Int(v)) + "." + String(Int((v - Double(Int(v))) * 1000) + 1000).dropFirst() }
