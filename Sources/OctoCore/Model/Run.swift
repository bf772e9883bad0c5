import MariaDB
import OctoTime

/// One attempt at running a job: a row of `runs`.
///
/// ```
/// waiting ──(needs met)──▶ queued ──claim──▶ running ──▶ succeeded | failed | timeout | cancelled
///    │                        │                 └──(lease expired)──▶ lost
///    └──(needs_timeout)──▶ skipped ◀──(concurrency forbids)
/// passed: marked succeeded by hand (octo sh pass)
/// ```
public struct Run: Sendable, Equatable {
    public enum State: String, SQLTextEnum {
        case waiting, queued, running, succeeded, passed, failed, timeout, cancelled, lost, skipped

        /// Ended without a correct return value: alerted, and retried while attempts are left
        /// (except `cancelled`, which a person or the `replace` policy chose).
        public var isFailure: Bool { self == .failed || self == .timeout || self == .lost }
        public var isFinished: Bool { self != .waiting && self != .queued && self != .running }
        /// Meets the needs of the jobs downstream.
        public var meetsNeeds: Bool { self == .succeeded || self == .passed }
    }

    /// Why the run exists: its fire came (`schedule`), a missed fire was
    /// caught up (`catchup`), a person asked (`manual`), an attempt failed
    /// (`retry`), or `octo sh backfill` asked for a past fire (`backfill`).
    public enum Trigger: String, SQLTextEnum {
        case schedule, catchup, manual, retry, backfill
    }

    public var id: Int64
    public var jobID: Int64
    public var jobName: String
    /// The scheduled instant (UTC); for manual runs, when it was asked for.
    public var fireTime: Instant
    /// The calendar date of the fire time in the job's zone (`YYYY-MM-DD`; empty on runs from before schema 9).
    public var logicalDate: String
    public var attempt: Int
    /// The machine of a broadcast (`strategy all`) run; empty otherwise.
    public var routeKey: String
    public var trigger: Trigger
    /// Started by `octo sh run --force`: ignores the job's concurrency policy.
    public var forced: Bool
    public var state: State
    public var reason: String
    /// Assigned (while queued) or running machine.
    public var machine: String?
    public var queuedAt: Instant
    public var notBefore: Instant
    public var leaseToken: String?
    public var leaseExpiresAt: Instant?
    public var pid: Int?
    public var cursorIn: String?
    public var cursorGiven: Bool
    /// Taken at claim: the high part of every cursor version this run writes (`CursorVersion`).
    public var cursorEpoch: Int64?
    public var cursorOut: String?
    public var exitCode: Int?
    public var exitSignal: Int?
    public var startedAt: Instant?
    public var endedAt: Instant?

    /// Cancelled while running, and its supervisor has not yet recorded the
    /// process group gone: the job's next run waits (see `RunQueue.cancel`).
    public var isStopping: Bool { state == .cancelled && leaseExpiresAt != nil }

    /// Seconds from start to end (nil until it has both).
    public var duration: Double? {
        guard let s = startedAt, let e = endedAt else { return nil }
        return (e - s).seconds
    }
}

extension Instant {
    /// `2026-11-21T10:00:00Z`, with microseconds only when there are some:
    /// how fire times are shown and passed to jobs (`OCTO_FIRE_TIME`, `{fire_time}`).
    public var fireTimeText: String {
        utc.iso8601(fractionDigits: microsecond == 0 ? 0 : 6) + "Z"
    }
}
