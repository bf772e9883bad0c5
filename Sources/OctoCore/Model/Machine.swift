import MariaDB
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

/// A worker machine as `octo register` reports it and `octo sh machines` shows it.
public struct Machine: Sendable {
    public var name: String
    public var state: State = .active
    public var groups: [String] = []
    /// Runtime environments given with `--env` (remembered).
    public var envs: [String] = []
    /// Interpreters found on PATH, with versions (`python3 3.11.7`).
    public var detectedEnvs: [String] = []
    public var slots: Int = 1
    public var cpus: Int = 1
    public var load: (Double, Double, Double) = (0, 0, 0)
    public var memTotal: UInt64 = 0
    public var memAvailable: UInt64 = 0
    public var unixUser: String = ""
    public var octoVersion: String = ""
    public var firstSeen: Instant?
    public var lastSeen: Instant?

    public init(name: String) { self.name = name }

    /// `active`, `draining` (heartbeats, takes no new work) or `removed`.
    public enum State: String, SQLTextEnum {
        case active, draining, removed
    }

    /// Every environment: the given ones (with the detected version where
    /// there is one), then the other detected ones.
    public var allEnvs: [String] {
        func name(_ e: String) -> String { String(e.split(separator: " ").first ?? "") }
        let given = envs.map { e in detectedEnvs.first { name($0) == e } ?? e }
        return given + detectedEnvs.filter { !envs.contains(name($0)) }
    }
}

/// What this host looks like right now: CPUs, load, memory, interpreters.
public enum HostFacts {
    public static func cpuCount() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// 1, 5 and 15 minute load averages from /proc/loadavg.
    public static func loadAverages() -> (Double, Double, Double) {
        let parts = (readTextFile("/proc/loadavg") ?? "").split(separator: " ").prefix(3).compactMap { Double($0) }
        return parts.count == 3 ? (parts[0], parts[1], parts[2]) : (0, 0, 0)
    }

    /// Total and available memory in bytes from /proc/meminfo.
    public static func memory() -> (total: UInt64, available: UInt64) {
        var total: UInt64 = 0
        var available: UInt64 = 0
        for line in (readTextFile("/proc/meminfo") ?? "").split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 2, let kb = UInt64(f[1]) else { continue }
            if f[0] == "MemTotal:" { total = kb * 1024 }
            if f[0] == "MemAvailable:" { available = kb * 1024 }
        }
        return (total, available)
    }

    /// Common interpreters and how to ask each for its version.
    public static let interpreters: [(name: String, versionArgs: [String])] = [
        ("bash", ["--version"]), ("python3", ["--version"]), ("php", ["--version"]), ("java", ["-version"]),
        ("node", ["--version"]), ("ruby", ["--version"]), ("perl", ["-e", "print $^V"])
    ]

    /// The common interpreters present on PATH (found by looking, not by running them).
    public static func interpretersOnPath(_ path: String) -> [String] {
        let dirs = path.split(separator: ":").map(String.init)
        return interpreters.map(\.name).filter { name in dirs.contains { access($0 + "/" + name, X_OK) == 0 } }
    }

    /// `python3 3.11.7`-style entries for `names`, running each interpreter
    /// once to ask its version (an interpreter that does not say stays bare).
    public static func withVersions(_ names: [String]) -> [String] {
        names.map { name in
            guard let args = interpreters.first(where: { $0.name == name })?.versionArgs,
                let r = try? ChildProcess.run([name] + args)
            else { return name }
            let text = String(decoding: r.stdout + r.stderr, as: UTF8.self)
            return version(in: text).map { name + " " + $0 } ?? name
        }
    }

    /// The first `N.N[.N…]` in `text`, e.g. `17.0.15` in `openjdk version "17.0.15"`.
    public static func version(in text: String) -> String? {
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            if chars[i].isASCII, chars[i].isNumber {
                var j = i
                while j < chars.count, chars[j].isASCII, chars[j].isNumber || chars[j] == "." { j += 1 }
                let candidate = String(chars[i..<j]).trimmingTrailingDots()
                if candidate.contains(".") { return candidate }
                i = j
            } else {
                i += 1
            }
        }
        return nil
    }
}

extension String {
    func trimmingTrailingDots() -> String {
        var s = self
        while s.hasSuffix(".") { s.removeLast() }
        return s
    }
}
