import MariaDB

#if canImport(Glibc)
import Glibc
#endif

/// A worker machine as `octo register` reports it and `octo sh machines` shows it.
public struct Machine: Sendable, Equatable {
    public var name: String
    /// `active`, `draining` (heartbeats, takes no new work) or `removed`.
    public var state: String = "active"
    public var groups: [String] = []
    /// Runtime environments given with `--env` (remembered).
    public var envs: [String] = []
    /// Interpreters found on PATH at the last registration.
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

    public static func == (a: Machine, b: Machine) -> Bool {
        a.name == b.name && a.state == b.state && a.groups == b.groups && a.envs == b.envs && a.slots == b.slots
    }

    /// Every environment: given and detected, without repeats.
    public var allEnvs: [String] { envs + detectedEnvs.filter { !envs.contains($0) } }
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
        var total: UInt64 = 0, available: UInt64 = 0
        for line in (readTextFile("/proc/meminfo") ?? "").split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 2, let kb = UInt64(f[1]) else { continue }
            if f[0] == "MemTotal:" { total = kb * 1024 }
            if f[0] == "MemAvailable:" { available = kb * 1024 }
        }
        return (total, available)
    }

    /// Common interpreters present on PATH (found by looking, not by running them,
    /// so a registration every minute stays cheap).
    public static let interpreters = ["bash", "python3", "php", "java", "node", "ruby", "perl"]

    public static func detectedEnvironments(path: String) -> [String] {
        let dirs = path.split(separator: ":").map(String.init)
        return interpreters.filter { name in dirs.contains { access($0 + "/" + name, X_OK) == 0 } }
    }
}
