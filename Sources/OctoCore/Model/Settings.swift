import MariaDB
import OctoTime

/// Cluster-wide settings, kept in the `settings` table so every machine
/// agrees. `octo init` writes the defaults; `octo sh settings KEY VALUE` changes one.
public struct Settings: Sendable, Equatable {
    /// IANA zone a job's schedule is read in when the job names none.
    public var defaultTimezone: String = "UTC"
    /// Log lines older than this are dropped (whole days, by partition).
    public var logRetention: Int64 = 3 * 86_400
    /// Finished runs older than this are purged.
    public var runRetention: Int64 = 30 * 86_400
    /// Audit rows older than this are purged.
    public var auditRetention: Int64 = 365 * 86_400
    /// How long a claimed run stays ours without a heartbeat.
    public var lease: Int64 = 60
    /// How often a running side renews its lease and logs `110 heartbeat`.
    public var heartbeat: Int64 = 10
    /// A machine silent for longer is stale and gets no new work.
    public var machineTTL: Int64 = 180
    /// Fires later than this count as missed (the misfire policy applies).
    public var misfireThreshold: Int64 = 60
    /// Repeated alerts within this window are merged into one summary.
    public var alertMergeWindow: Int64 = 300
    /// A run still waiting for its needs after this long is recorded skipped, and alerted.
    public var needsTimeout: Int64 = 86_400
    /// Shell command that delivers an alert (JSON on stdin); empty: none.
    public var alertCommand: String = ""

    public init() {}

    /// A setting's key, its meaning and how its value is checked.
    public struct Key: Sendable {
        public let name: String
        public let help: String
        let read: @Sendable (Settings) -> String
        let write: @Sendable (inout Settings, String) throws(OctoError) -> Void
        /// A time zone: a value given by a person must be `Zone.definable`.
        var isZone = false
    }

    /// Every setting, in the order `octo sh settings` lists them.
    public static let keys: [Key] = [
        zone("default_tz", "time zone of jobs that name none", \.defaultTimezone),
        duration("log_retention", "log lines older than this are dropped", \.logRetention, minimum: 86_400),
        duration("run_retention", "finished runs older than this are purged", \.runRetention, minimum: 86_400),
        duration("audit_retention", "audit rows older than this are purged", \.auditRetention, minimum: 86_400),
        duration("lease", "a run without a heartbeat for this long is lost", \.lease, minimum: 5),
        duration("heartbeat", "how often a running job renews its lease", \.heartbeat, minimum: 1),
        duration("machine_ttl", "a machine silent this long is stale", \.machineTTL, minimum: 10),
        duration("misfire_threshold", "fires later than this are missed", \.misfireThreshold, minimum: 1),
        duration("alert_merge_window", "repeats within this window are merged", \.alertMergeWindow, minimum: 1),
        duration(
            "needs_timeout", "a run still waiting for its needs this long is skipped", \.needsTimeout, minimum: 60),
        Key(
            name: "alert_command", help: "shell command that delivers an alert (JSON on stdin)",
            read: { $0.alertCommand },
            write: { (s: inout Settings, v: String) throws(OctoError) in
                guard v.utf8.count <= 65_535, !v.utf8.contains(0) else {
                    throw OctoError.invalid(
                        "alert_command", v, expected: "a shell command of at most 64 KiB without NUL bytes")
                }
                s.alertCommand = v
            })
    ]

    public static func key(_ name: String) -> Key? { keys.first { $0.name == name } }

    /// The value of `key` as text, as stored.
    public func value(of key: Key) -> String { key.read(self) }

    /// Sets `key` from text after checking it (and its relation to the other
    /// settings: the heartbeat must be shorter than half the lease).
    /// Sets `key` to `value`, validated. A value `given` by a person is held to
    /// today's rules; one read back from the database (`given: false`) only
    /// has to be usable, so a zone an older octo accepted (`localtime`) stays
    /// what it is rather than silently becoming UTC.
    public mutating func set(_ key: Key, _ value: String, given: Bool = true) throws(OctoError) {
        if given && key.isZone { _ = try Zone.definable(value) }
        var copy = self
        try key.write(&copy, value)
        guard copy.heartbeat * 2 <= copy.lease else {
            throw OctoError.invalid(
                key.name, value,
                expected:
                    "heartbeat at most half the lease (lease \(Durations.format(copy.lease)), heartbeat \(Durations.format(copy.heartbeat)))"
            )
        }
        self = copy
    }

    private static func duration(
        _ name: String, _ help: String, _ path: any WritableKeyPath<Settings, Int64> & Sendable, minimum: Int64
    ) -> Key {
        Key(
            name: name, help: help, read: { Durations.format($0[keyPath: path]) },
            write: { (s: inout Settings, v: String) throws(OctoError) in
                let secs = try Durations.parse(v, what: name)
                guard secs >= minimum else {
                    throw OctoError.invalid(name, v, expected: "at least \(Durations.format(minimum))")
                }
                s[keyPath: path] = secs
            })
    }

    private static func zone(_ name: String, _ help: String, _ path: any WritableKeyPath<Settings, String> & Sendable)
        -> Key
    {
        var key = Key(
            name: name, help: help, read: { $0[keyPath: path] },
            write: { (s: inout Settings, v: String) throws(OctoError) in
                _ = try Zone.named(v)
                s[keyPath: path] = v
            })
        key.isZone = true
        return key
    }
}
