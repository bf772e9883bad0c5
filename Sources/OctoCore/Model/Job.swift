import MariaDB
import OctoTime

/// A job: what to run, where, when, and what counts as success.
///
/// Every attribute has one name used everywhere — `octo sh add/edit` flags
/// (`--retry-delay`), YAML keys in `export`/`apply` (`retry_delay`) and
/// `--json` fields — listed with its rules in `Job.attributes`.
public struct Job: Sendable, Equatable {
    public var name: String
    public var command: String
    /// Cron, macro, `@every …`, or empty for manual-only.
    public var schedule: String = ""
    /// Jobs that must have succeeded (or been passed) for the same fire time
    /// first, in the given order; a job without a schedule follows its first.
    public var needs: [String] = []
    /// IANA zone; empty means the `default_tz` setting.
    public var timezone: String = ""
    public var owner: String = ""
    /// Unix account that must run it; empty means any.
    public var user: String = ""
    /// `any`, a comma list of machines, or `group:NAME`.
    public var target: String = "any"
    public var strategy: Strategy = .any
    public var concurrency: Concurrency = .forbid
    public var maxParallel: Int = 1
    public var misfire: Misfire = .once
    /// Seconds; 0 for none.
    public var timeout: Int64 = 0
    /// Seconds after which a run still running raises one `slow` alert; 0 for none.
    public var warnAfter: Int64 = 0
    public var retries: Int = 0
    /// Seconds before each retry.
    public var retryDelay: Int64 = 30
    /// Accepted exit codes, e.g. `0,3`.
    public var okCodes: [Int] = [0]
    public var alertLevel: AlertLevel = .error
    /// Recipients, comma list.
    public var alertTo: String = ""
    public var paused: Bool = false

    // Kept by octo, not set by people.
    public var id: Int64?
    public var nextFireAt: Instant?
    public var createdAt: Instant?
    public var createdBy: String = ""
    public var updatedAt: Instant?
    public var updatedBy: String = ""

    public init(name: String, command: String) {
        self.name = name
        self.command = command
    }

    /// The definition alone (what `export` writes and `apply` compares).
    public var definition: Job {
        var j = Job(name: name, command: command)
        for a in Job.attributes { try? a.set(&j, a.get(self)) }
        j.timezone = timezone  // as stored, even a zone today's rules refuse (`localtime` from an older octo)
        return j
    }

    /// The zone the schedule is read in.
    public func zone(default defaultZone: String) throws(OctoError) -> Zone {
        try Zone.named(timezone.isEmpty ? defaultZone : timezone)
    }

    public func parsedSchedule() throws(OctoError) -> Schedule { try Schedule(schedule) }

    /// The concurrency policy as claims and production apply it: a job with
    /// needs runs its fires one after another (`forbid` and `replace` act as
    /// `queue`, `allow` stays), because a fire skipped or replaced would leave
    /// every job below it waiting for a period that never comes.
    public var effectiveConcurrency: Concurrency {
        needs.isEmpty || concurrency == .allow ? concurrency : .queue
    }

    /// True if `code` is an accepted exit code.
    public func accepts(exitCode code: Int) -> Bool { okCodes.contains(code) }

    /// How a run picks its machine (see `Routing.routes`).
    public enum Strategy: String, SQLTextEnum {
        case any, first, random
        case leastLoaded = "least-loaded"
        case all
    }

    /// What a fire does while a run of the job is queued or running (see `ProductionPlan`).
    public enum Concurrency: String, SQLTextEnum {
        case forbid, queue, allow, replace
    }

    /// What happens to fires missed by more than `misfire_threshold`.
    public enum Misfire: String, SQLTextEnum {
        case once, skip, all
    }

    /// The log level from which a job's lines raise an alert, or `none`.
    public enum AlertLevel: String, SQLTextEnum {
        case none, fatal, error, warn, info, debug, trace

        /// The least severe level that alerts; nil for `none`.
        public var logLevel: LogLevel? { LogLevel(rawValue: rawValue) }

        /// True if a line of `level` raises an alert.
        public func alerts(on level: LogLevel) -> Bool { logLevel.map { level <= $0 } ?? false }
    }
}

// MARK: - Attributes

extension Job {
    /// One attribute: its name (snake_case for YAML and JSON, kebab-case as a
    /// flag), help, default, and how it is read from and written as text.
    public struct Attribute: Sendable {
        public let name: String
        public let help: String
        public let defaultText: String
        let read: @Sendable (Job) -> String
        let write: @Sendable (inout Job, String) throws(OctoError) -> Void

        /// `retry_delay` → `retry-delay`
        public var flag: String { String(name.map { $0 == "_" ? "-" : $0 }) }
        public func get(_ job: Job) -> String { read(job) }
        /// Sets the attribute from text after checking it; the error names the value.
        public func set(_ job: inout Job, _ text: String) throws(OctoError) { try write(&job, text) }
    }

    /// Every attribute, in the order `show`, `export` and `--help` list them.
    /// `name` comes first; `command` is required.
    public static let attributes: [Attribute] = [
        Attribute(
            name: "name", help: "unique name, \(Names.nameRule)", defaultText: "",
            read: { $0.name },
            write: { (j: inout Job, v: String) throws(OctoError) in
                try Names.check("job name", v)
                j.name = v
            }),
        Attribute(
            name: "command", help: "run by /bin/sh -c", defaultText: "",
            read: { $0.command },
            write: { (j: inout Job, v: String) throws(OctoError) in
                guard !v.trimmingWhitespace().isEmpty, !v.utf8.contains(0), v.utf8.count <= 65_535 else {
                    throw OctoError.invalid(
                        "command", v, expected: "a non-empty shell command without NUL bytes, at most 64 KiB")
                }
                j.command = v
            }),
        Attribute(
            name: "schedule", help: "cron expression, macro, @every 15m, or empty for manual-only", defaultText: "",
            read: { $0.schedule },
            write: { (j: inout Job, v: String) throws(OctoError) in
                let text = try Schedule(v).text
                guard text.unicodeScalars.count <= 255 else {
                    throw OctoError.invalid("schedule", v, expected: "at most 255 characters")
                }
                j.schedule = text
            }),
        Attribute(
            name: "needs",
            help: "jobs that must succeed for the same fire time first, comma list (no schedule: follow the first)",
            defaultText: "",
            read: { $0.needs.joined(separator: ",") },
            write: { (j: inout Job, v: String) throws(OctoError) in j.needs = try parseNeeds(v) }),
        Attribute(
            name: "timezone", help: "IANA zone the schedule is read in (empty: setting default_tz)", defaultText: "",
            read: { $0.timezone },
            write: { (j: inout Job, v: String) throws(OctoError) in
                // exactly a zone's name: `Europe/London ` with its space is not one
                guard v == v.trimmingWhitespace() else {
                    throw OctoError.invalid(
                        "timezone", v, expected: "an IANA zone name such as Europe/London, without spaces around it")
                }
                if !v.isEmpty { _ = try Zone.definable(v) }
                j.timezone = v
            }),
        Attribute(
            name: "owner", help: "who answers for it, e.g. an e-mail (default: the Unix user who added it)",
            defaultText: "",
            read: { $0.owner },
            write: { (j: inout Job, v: String) throws(OctoError) in
                guard !v.trimmingWhitespace().isEmpty, v == v.trimmingWhitespace() else {
                    throw OctoError.invalid(
                        "owner", v, expected: "who answers for the job (a name or an e-mail), not empty")
                }
                j.owner = try text("owner", v, max: 255)
            }),
        Attribute(
            name: "user", help: "Unix account that must run it (empty: any)", defaultText: "",
            read: { $0.user },
            write: { (j: inout Job, v: String) throws(OctoError) in
                guard v.isEmpty || isUnixUserName(v) else {
                    throw OctoError.invalid(
                        "user", v, expected: "a Unix account name (a-z, 0-9, _ and -, at most 32) or empty for any")
                }
                j.user = v
            }),
        Attribute(
            name: "target", help: "any, a comma list of machines, or group:NAME", defaultText: "any",
            read: { $0.target }, write: { (j: inout Job, v: String) throws(OctoError) in j.target = try parseTarget(v) }
        ),
        choice("strategy", "routing: any, first, random, least-loaded, all", \.strategy),
        choice("concurrency", "forbid, queue, allow or replace a running run", \.concurrency),
        Attribute(
            name: "max_parallel", help: "runs at once with concurrency allow", defaultText: "1",
            read: { String($0.maxParallel) },
            write: { (j: inout Job, v: String) throws(OctoError) in
                j.maxParallel = try number("max_parallel", v, 1...1000)
            }),
        choice("misfire", "after missed fires: once, skip or all (at most 100)", \.misfire),
        duration("timeout", "kill a run after this long (90s, 15m, 2h, 1d; 0 for none)", \.timeout, default: 0),
        duration(
            "warn_after", "raise one slow alert for a run still running after this long (0 for none)", \.warnAfter,
            default: 0),
        Attribute(
            name: "retries", help: "extra attempts after a failure (auto-restart)", defaultText: "0",
            read: { String($0.retries) },
            write: { (j: inout Job, v: String) throws(OctoError) in
                j.retries = try number("retries", v, 0...100)
            }),
        duration("retry_delay", "wait before each retry", \.retryDelay, default: 30),
        Attribute(
            name: "ok_codes", help: "accepted exit codes, e.g. 0,3", defaultText: "0",
            read: { $0.okCodes.map(String.init).joined(separator: ",") },
            write: { (j: inout Job, v: String) throws(OctoError) in
                var codes: [Int] = []
                for part in v.split(separator: ",", omittingEmptySubsequences: false) {
                    guard let c = Int(part.trimmingWhitespace()), (0...255).contains(c) else {
                        throw OctoError.invalid(
                            "ok_codes", v, expected: "a comma list of exit codes from 0 to 255, e.g. 0,3")
                    }
                    if !codes.contains(c) { codes.append(c) }
                }
                j.okCodes = codes.sorted()
            }),
        choice("alert_level", "log level that raises an alert: fatal … trace, or none", \.alertLevel),
        Attribute(
            name: "alert_to", help: "alert recipients, comma list", defaultText: "",
            read: { $0.alertTo },
            write: { (j: inout Job, v: String) throws(OctoError) in
                let parts = v.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
                // each goes to the alert command's OCTO_ALERT_TO: no `--option` or `|command` a mailer could obey
                guard v.trimmingWhitespace().isEmpty || parts.allSatisfy(isRecipient) else {
                    throw OctoError.invalid(
                        "alert_to", v,
                        expected: "a comma list of recipients (e-mail addresses, names or URLs: "
                            + "letters, digits and . _ % + @ : / ? & = # ~ -, starting with a letter or digit)")
                }
                j.alertTo = try text("alert_to", parts.joined(separator: ","), max: 1024)
            }),
        Attribute(
            name: "paused", help: "true or false", defaultText: "false",
            read: { $0.paused ? "true" : "false" },
            write: { (j: inout Job, v: String) throws(OctoError) in
                switch v.lowercased() {
                case "true": j.paused = true
                case "false": j.paused = false
                default: throw OctoError.invalid("paused", v, expected: "true or false")
                }
            })
    ]

    public static func attribute(_ name: String) -> Attribute? { attributes.first { $0.name == name } }

    private static func choice<T: SQLTextEnum>(
        _ name: String, _ help: String, _ path: any WritableKeyPath<Job, T> & Sendable
    ) -> Attribute {
        Attribute(
            name: name, help: help, defaultText: Job(name: "", command: "")[keyPath: path].rawValue,
            read: { $0[keyPath: path].rawValue },
            write: { (j: inout Job, v: String) throws(OctoError) in j[keyPath: path] = try T(text: v, what: name) })
    }

    private static func duration(
        _ name: String, _ help: String, _ path: any WritableKeyPath<Job, Int64> & Sendable, default d: Int64
    ) -> Attribute {
        Attribute(
            name: name, help: help, defaultText: Durations.format(d),
            read: { Durations.format($0[keyPath: path]) },
            write: { (j: inout Job, v: String) throws(OctoError) in
                j[keyPath: path] = try Durations.parse(v, what: name)
            })
    }

    private static func number(_ name: String, _ v: String, _ range: ClosedRange<Int>) throws(OctoError) -> Int {
        guard let n = Int(v.trimmingWhitespace()), range.contains(n) else {
            throw OctoError.invalid(name, v, expected: "a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    /// Free text without control characters.
    private static func text(_ name: String, _ v: String, max: Int) throws(OctoError) -> String {
        // counted as the column counts them (code points: `e` and a combining accent are two)
        guard v.unicodeScalars.count <= max, !v.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f })
        else {
            throw OctoError.invalid(name, v, expected: "text of at most \(max) characters without control characters")
        }
        return v
    }

    /// One `alert_to` recipient: starts with a letter or digit, then letters, digits and `._%+@:/?&=#~-`.
    static func isRecipient(_ v: String) -> Bool {
        let u = Array(v.utf8)
        func alnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) }
        guard (1...254).contains(u.count), alnum(u[0]) else { return false }
        return u.allSatisfy { alnum($0) || "._%+@:/?&=#~-".utf8.contains($0) }
    }

    static func isUnixUserName(_ v: String) -> Bool {
        let u = Array(v.utf8)
        guard (1...32).contains(u.count), let f = u.first, (f >= 97 && f <= 122) || f == 95 else { return false }
        return u.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 45 }
    }

    /// At most this many needs per job.
    public static let maximumNeeds = 64

    /// `a, b,c` → `["a", "b", "c"]`: job names, each once, in the given order; empty for none.
    static func parseNeeds(_ raw: String) throws(OctoError) -> [String] {
        let v = raw.trimmingWhitespace()
        if v.isEmpty { return [] }
        let names = v.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
        // (the column holds 2,048 characters: 64 names of 64 would not fit)
        guard names.allSatisfy(Names.isValidName), names.count <= maximumNeeds, v.utf8.count <= 2048 else {
            throw OctoError.invalid(
                "needs", raw,
                expected:
                    "a comma list of at most \(maximumNeeds) job names (\(Names.nameRule)), 2048 characters in all")
        }
        var out: [String] = []
        for n in names where !out.contains(n) { out.append(n) }
        return out
    }

    static func parseTarget(_ raw: String) throws(OctoError) -> String {
        let v = raw.trimmingWhitespace()
        guard v.unicodeScalars.count <= 1024 else {
            throw OctoError.invalid(
                "target", raw, expected: "at most 1024 characters (any, a comma list of machines, or group:NAME)")
        }
        if v == "any" { return v }
        if v.hasPrefix("group:") {
            let g = String(v.dropFirst(6))
            guard Names.isValidName(g) else {
                throw OctoError.invalid("target", raw, expected: "any, a comma list of machines, or group:NAME")
            }
            return v
        }
        let machines = v.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
        guard !machines.isEmpty, machines.allSatisfy(Names.isValidName) else {
            throw OctoError.invalid("target", raw, expected: "any, a comma list of machines, or group:NAME")
        }
        return machines.joined(separator: ",")
    }
}
