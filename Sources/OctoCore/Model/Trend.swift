import OctoTime

/// A job's recent runs as `octo sh trend` draws them: a pure summary of
/// finished runs (oldest first) with the median and 95th percentile of their
/// durations, and each run's bar height on a scale from 0 to the longest.
public struct Trend: Sendable, Equatable {
    public struct Point: Sendable, Equatable {
        public var runID: Int64
        public var state: Run.State
        public var fireTime: Instant
        /// Seconds from start to end; nil for a run that never started (skipped).
        public var duration: Double?
    }

    /// Finished runs, oldest first.
    public let points: [Point]
    /// Of the durations shown (runs that never started have none).
    public let median: Double?
    public let p95: Double?
    public let longest: Double?

    /// From runs in any order (as `RunQueue.history` gives them, newest first); queued and running runs are left out.
    public init(_ runs: [Run]) {
        points = runs.filter(\.state.isFinished).sorted { $0.id < $1.id }.map {
            Point(runID: $0.id, state: $0.state, fireTime: $0.fireTime, duration: $0.duration)
        }
        let durations = points.compactMap(\.duration)
        median = Trend.median(durations)
        p95 = Trend.percentile(95, durations)
        longest = durations.max()
    }

    /// The middle value (the mean of the two middle ones for an even count).
    public static func median(_ values: [Double]) -> Double? {
        let s = values.sorted()
        guard !s.isEmpty else { return nil }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// The nearest-rank percentile: the smallest value with at least `p` % of the values at or below it.
    public static func percentile(_ p: Int, _ values: [Double]) -> Double? {
        let s = values.sorted()
        guard !s.isEmpty else { return nil }
        let rank = (p * s.count + 99) / 100  // ⌈p·n/100⌉
        return s[max(1, rank) - 1]
    }

    /// A run's bar height in `rows` (0 for no duration; at least 1 for any duration above 0).
    public func height(_ p: Point, rows: Int) -> Int {
        guard let d = p.duration, let top = longest, top > 0, d > 0 else { return 0 }
        return max(1, Int((d / top * Double(rows)).rounded(.up)))
    }
}
