import Dispatch
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

/// Processes a test starts in the background and watches.
public enum Processes {
    /// Starts `octo ARGS…` in the background (its output discarded) with
    /// `environment` and returns its pid. It is not our child: the shell that
    /// started it has exited, so `kill -9` of it leaves no zombie here.
    public static func startOcto(_ arguments: [String], environment: [String: String]) throws -> pid_t {
        let env = environment.map { CrontabBlock.shellQuote($0.key + "=" + $0.value) }.joined(separator: " ")
        let cmd =
            "env -u LD_PRELOAD -u _STDBUF_O -u _STDBUF_E \(env) "
            + ([OctoBinary.path] + OctoBinary.sweepingEveryTime(arguments)).map(CrontabBlock.shellQuote).joined(
                separator: " ")
            + " </dev/null >/dev/null 2>&1 & echo $!"
        let r = try ChildProcess.run(["/bin/sh", "-c", cmd])
        guard let pid = pid_t(String(decoding: r.stdout, as: UTF8.self).trimmingWhitespace()) else {
            throw OctoError.failure("could not start octo in the background")
        }
        return pid
    }

    /// True if `pid` no longer runs: gone, or a zombie nobody has reaped yet.
    public static func isGone(_ pid: pid_t) -> Bool {
        guard let stat = readFileBytes("/proc/\(pid)/stat") else { return true }
        let text = String(decoding: stat, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return true }
        let state = text[text.index(close, offsetBy: 2)...].prefix(1)
        return state == "Z" || state == "X"
    }

    /// Polls `condition` every 50 ms until it holds or `seconds` pass; returns whether it held.
    /// Sleeps without blocking a thread: tests run in parallel on a small cooperative pool.
    public static func waitUntil(seconds: Double, _ condition: () throws -> Bool) async rethrows -> Bool {
        let end = Monotonic.seconds() + seconds
        while Monotonic.seconds() < end {
            if try condition() { return true }
            // a cancelled test (its time limit) does not sleep any more: one last look, not a busy loop
            if Task.isCancelled { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try condition()
    }
}

/// Blocking work (a connection waiting for a lock, a barrier) on a thread of
/// its own: the cooperative pool has about as many threads as cores, so two
/// blocked tasks there can starve every other task of the suite — and a
/// barrier whose partner cannot get a thread never opens.
public enum Threads {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue(label: "octo-test-thread").async {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}
