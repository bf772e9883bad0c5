import MariaDB
import OctoTime

/// What the monitor makes of a batch of log lines: a pure classifier, so the
/// rules are tested without a database (`Monitor.scanLogs` applies the result
/// in the transaction that moves its marker).
///
/// - A line without a code at or above its job's `alert_level` (`error` for
///   names that are not jobs) is a `log` occurrence.
/// - A `100 start` outside a run opens a wait for its `120 end` on the same
///   stream, due after the job's timeout or `Monitor.missingEndAfter`.
/// - A `120 end` outside a run closes that wait; its exit status decides: an
///   accepted exit code (the job's `ok_codes`, else 0) is a success (it may
///   recover the job's alerts), another code or a signal is `bad_exit`.
/// - A run's own start and end lines are the runs table's business.
public struct LogScan: Sendable, Equatable {
    /// One stored line, as the scan reads it.
    public struct Line: Sendable, Equatable {
        public var id: Int64
        public var at: Instant
        public var job: String
        public var machine: String
        public var runID: Int64?
        public var streamID: Int64
        public var level: LogLevel
        public var code: LogCode?
        public var content: String
    }

    /// What a job's lines are judged by.
    public struct Rules: Sendable, Equatable {
        public var alertLevel: Job.AlertLevel = .error
        /// Seconds (0: none); a start without an end is due after it.
        public var timeout: Int64 = 0
        public var okCodes: Set<Int> = [0]

        public init(alertLevel: Job.AlertLevel = .error, timeout: Int64 = 0, okCodes: Set<Int> = [0]) {
            (self.alertLevel, self.timeout, self.okCodes) = (alertLevel, timeout, okCodes)
        }
    }

    /// A wait for a `120 end`, opened by a `100 start`.
    public struct OpenStart: Sendable, Equatable {
        public var logID: Int64
        public var streamID: Int64
        public var job: String
        public var machine: String
        public var startedAt: Instant
        public var deadline: Instant
        public var content: String
    }

    /// Waits opened and closed, in the order of their lines.
    public enum StartEvent: Sendable, Equatable {
        case opened(OpenStart)
        case closed(streamID: Int64, job: String)
    }

    /// An accepted end outside a run.
    public struct Success: Sendable, Equatable {
        public var job: String
        public var at: Instant
        public var machine: String
    }

    public var occurrences: [Occurrence] = []
    public var starts: [StartEvent] = []
    public var successes: [Success] = []

    /// The levels a scan must read so that every job's `alert_level` is seen
    /// (lines with a code are always read): `fatal` down to the most verbose.
    public static func levelsToRead(_ rules: some Sequence<Rules>) -> [LogLevel] {
        let mostVerbose = rules.compactMap(\.alertLevel.logLevel).max() ?? .error
        return LogLevel.allCases.filter { $0 <= max(mostVerbose, .error) }
    }

    /// Classifies `lines` (in id order) by the rules of their jobs.
    public static func classify(_ lines: [Line], rules: [String: Rules]) -> LogScan {
        var scan = LogScan()
        for l in lines { scan.take(l, rules[l.job] ?? Rules()) }
        return scan
    }

    private mutating func take(_ l: Line, _ rules: Rules) {
        guard let code = l.code else {
            if rules.alertLevel.alerts(on: l.level) {
                occurrences.append(
                    Occurrence(
                        .log, job: l.job, runID: l.runID, machine: l.machine, at: l.at,
                        line: "\(l.level.rawValue): \(l.content)"))
            }
            return
        }
        guard l.runID == nil else { return }
        switch code {
        case .start:
            let wait = rules.timeout > 0 ? rules.timeout : Monitor.missingEndAfter
            starts.append(
                .opened(
                    OpenStart(
                        logID: l.id, streamID: l.streamID, job: l.job, machine: l.machine, startedAt: l.at,
                        deadline: l.at + .seconds(wait), content: String(l.content.prefix(1000)))))
        case .end:
            starts.append(.closed(streamID: l.streamID, job: l.job))
            let ended = LogScan.endStatus(l.content)
            if let c = ended.code, rules.okCodes.contains(c), ended.signal == nil {
                successes.append(Success(job: l.job, at: l.at, machine: l.machine))
            } else if ended.code != nil || ended.signal != nil {
                occurrences.append(Occurrence(.badExit, job: l.job, machine: l.machine, at: l.at, line: l.content))
            }
        case .heartbeat:
            break
        }
    }

    /// `exit 3`, `exit code 3`, `signal 9` or a bare leading number in a `120 end` line.
    public static func endStatus(_ content: String) -> (code: Int?, signal: Int?) {
        let words = content.split(whereSeparator: {
            $0 == " " || $0 == "," || $0 == ":" || $0 == "=" || $0 == "(" || $0 == ")"
        })
        func number(after key: String) -> Int? {
            guard let i = words.firstIndex(where: { $0.lowercased() == key }) else { return nil }
            return words[(i + 1)...].prefix(2).lazy.compactMap { Int($0) }.first
        }
        let signal = number(after: "signal")
        let code = number(after: "exit") ?? (signal == nil ? words.first.flatMap { Int($0) } : nil)
        return (code, signal)
    }
}
