import OctoTime

/// octo's Prometheus metrics: what `MetricsStore.snapshot` read, and its
/// rendering in the text exposition format 0.0.4 — pure, so a test can pin
/// every line.
///
/// Counters (`octo_job_runs_total`, the duration histogram) come from
/// `run_counts`, which the transaction that ends a run adds to and no purge
/// touches: they never go down. Gauges are read from the tables as they are.
public enum Metrics {
    /// Upper bounds (seconds) of the duration histogram's buckets, before `+Inf`.
    public static let buckets: [Double] = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21_600, 86_400]

    /// The final states a run is counted in (every one is printed for every job, zeros included).
    public static let finalStates: [Run.State] = Run.State.allCases.filter(\.isFinished)

    /// One job's figures.
    public struct Job: Sendable, Equatable {
        public var name: String
        public var paused = false
        public var nextFire: Instant?
        /// Ended runs by final state, since counting began (schema 8).
        public var runs: [Run.State: Int64] = [:]
        /// Ended runs that had started, by bucket index into `buckets` (`buckets.count`: above the last).
        public var durationBuckets: [Int: Int64] = [:]
        public var durationSum: Double = 0
        public var lastSuccess: Instant?
        public var lastEnd: Instant?
        public var running: Int64 = 0
        public var queued: Int64 = 0
        public var waiting: Int64 = 0
        public init(name: String) { self.name = name }
    }

    /// One machine's figures.
    public struct Machine: Sendable, Equatable {
        public var name: String
        /// Heartbeating within `machine_ttl` and not removed.
        public var up: Bool
        public var slots: Int
        public var slotsInUse: Int
        public init(name: String, up: Bool, slots: Int, slotsInUse: Int) {
            (self.name, self.up, self.slots, self.slotsInUse) = (name, up, slots, slotsInUse)
        }
    }

    /// Everything the metrics say, at one moment.
    public struct Snapshot: Sendable, Equatable {
        public var jobs: [Job] = []
        public var machines: [Machine] = []
        public var openAlerts: [AlertKind: Int64] = [:]
        /// Queued runs (claimable now or waiting for their retry delay).
        public var queueDepth: Int64 = 0
        /// Seconds the longest-waiting claimable run (its `not_before` passed) has waited; 0 if none.
        public var oldestQueuedAge: Double = 0
        public init() {}
    }

    /// The exposition text: `# HELP` and `# TYPE` before each family, one
    /// sample per line, label values escaped, jobs and machines by name.
    public static func render(_ s: Snapshot) -> String { String(decoding: renderBytes(s), as: UTF8.self) }

    /// `render` as UTF-8 bytes, written into one buffer (10,000 jobs are some 300,000 lines).
    public static func renderBytes(_ s: Snapshot) -> [UInt8] {
        var out = Writer()
        let jobs = s.jobs.sorted { $0.name < $1.name }
        let jobLabels = jobs.map { "{job=\"" + escaped($0.name) + "\"" }
        out.family("octo_job_runs_total", "counter", "Runs of the job that ended, by final state.")
        let states = finalStates.map { ",state=\"" + $0.rawValue + "\"}" }
        for (j, label) in zip(jobs, jobLabels) {
            for (state, stateLabel) in zip(finalStates, states) {
                out.sample("octo_job_runs_total", label, stateLabel, j.runs[state] ?? 0)
            }
        }
        out.family("octo_job_duration_seconds", "histogram", "Duration of the job's runs that started and ended.")
        for (j, label) in zip(jobs, jobLabels) { out.histogram(j, label) }
        for (name, help, value) in [
            (
                "octo_job_last_success_timestamp_seconds", "When the job's last successful run ended (Unix time).",
                { (j: Job) in j.lastSuccess }
            ),
            (
                "octo_job_last_run_timestamp_seconds", "When the job's last run ended (Unix time).",
                { (j: Job) in j.lastEnd }
            ),
            (
                "octo_job_next_fire_timestamp_seconds", "The job's next scheduled fire (Unix time).",
                { (j: Job) in j.nextFire }
            )
        ] {
            out.family(name, "gauge", help)
            for (j, label) in zip(jobs, jobLabels) {
                if let t = value(j) { out.sample(name, label, "}", number(Double(t.microseconds) / 1_000_000)) }
            }
        }
        for (name, help, value) in [
            ("octo_job_running", "Runs of the job running now.", { (j: Job) in j.running }),
            ("octo_job_queued", "Runs of the job queued now.", { (j: Job) in j.queued }),
            ("octo_job_waiting", "Runs of the job waiting for the jobs it needs.", { (j: Job) in j.waiting }),
            ("octo_job_paused", "1 if the job is paused.", { (j: Job) in j.paused ? 1 : 0 })
        ] {
            out.family(name, "gauge", help)
            for (j, label) in zip(jobs, jobLabels) { out.sample(name, label, "}", value(j)) }
        }
        let machines = s.machines.sorted { $0.name < $1.name }
        for (name, help, value) in [
            (
                "octo_machine_up", "1 if the machine heartbeats within machine_ttl and is not removed.",
                {
                    (m: Machine) in Int64(m.up ? 1 : 0)
                }
            ),
            ("octo_machine_slots", "Runs the machine may hold at once.", { (m: Machine) in Int64(m.slots) }),
            ("octo_machine_slots_in_use", "Runs running on the machine now.", { (m: Machine) in Int64(m.slotsInUse) })
        ] {
            out.family(name, "gauge", help)
            for m in machines { out.sample(name, "{machine=\"" + escaped(m.name) + "\"", "}", value(m)) }
        }
        out.family("octo_alerts_open", "gauge", "Open alerts (not delivered, delivery failed, or unanswered failures).")
        for kind in AlertKind.allCases {
            out.sample("octo_alerts_open", "{kind=\"" + kind.rawValue + "\"", "}", s.openAlerts[kind] ?? 0)
        }
        out.family("octo_queue_depth", "gauge", "Runs queued now.")
        out.sample("octo_queue_depth", "", "", s.queueDepth)
        out.family(
            "octo_queue_oldest_age_seconds", "gauge", "How long the longest-waiting claimable queued run has waited.")
        out.sample("octo_queue_oldest_age_seconds", "", "", number(s.oldestQueuedAge))
        return out.bytes
    }

    /// `\`, `"` and newline escaped, as a label value must be.
    static func escaped(_ v: String) -> String {
        var s = ""
        for c in v.unicodeScalars {
            switch c {
            case "\\": s += "\\\\"
            case "\"": s += "\\\""
            case "\n": s += "\\n"
            default: s.unicodeScalars.append(c)
            }
        }
        return s
    }

    /// A number as Prometheus reads it: integers without a fraction, `+Inf`.
    static func number(_ d: Double) -> String {
        if d.isInfinite { return d > 0 ? "+Inf" : "-Inf" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }

    /// Appends lines to one byte buffer: a sample is its name, the labels
    /// opened once per job (`{job="x"`), the rest of the labels and its value.
    struct Writer {
        var bytes: [UInt8] = []

        init() { bytes.reserveCapacity(1 << 20) }

        mutating func append(_ s: String) {
            var s = s
            s.withUTF8 { bytes.append(contentsOf: $0) }
        }

        mutating func family(_ name: String, _ type: String, _ help: String) {
            append("# HELP \(name) \(help)\n# TYPE \(name) \(type)\n")
        }

        mutating func sample(_ name: String, _ open: String, _ close: String, _ value: Int64) {
            sample(name, open, close, String(value))
        }

        mutating func sample(_ name: String, _ open: String, _ close: String, _ value: String) {
            append(name)
            append(open)
            append(close)
            bytes.append(0x20)
            append(value)
            bytes.append(0x0A)
        }

        /// Cumulative buckets, `+Inf`, sum and count of one job.
        mutating func histogram(_ j: Job, _ label: String) {
            var cumulative: Int64 = 0
            for (i, bound) in Metrics.bucketLabels.enumerated() {
                cumulative += j.durationBuckets[i] ?? 0
                sample("octo_job_duration_seconds_bucket", label, bound, cumulative)
            }
            sample("octo_job_duration_seconds_sum", label, "}", number(j.durationSum))
            sample("octo_job_duration_seconds_count", label, "}", cumulative)
        }
    }

    /// `,le="1"}` … `,le="+Inf"}`: the bucket labels, `+Inf` last (index `buckets.count`).
    static let bucketLabels = (buckets.map(number) + ["+Inf"]).map { ",le=\"" + $0 + "\"}" }
}
