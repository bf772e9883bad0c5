import OctoTime

/// Which fires of an upstream job a downstream run for fire time T waits for
/// — DESIGN.md's "U's fires for T", decided purely from the two schedules,
/// each in its own zone:
///
/// 1. U's fire at T, if U fires at T (the same schedule; an hourly U under a
///    daily job that fires on the hour);
/// 2. else every fire of U in the downstream's period (its previous fire, T]
///    — an hourly U under a daily job at 00:30: that day's 24, or 23 and 25
///    on the days a zone's clocks change;
/// 3. else U's latest fire before T (a daily U under an hourly job).
///
/// A manual-only upstream has no fires to compute: its runs are matched by
/// fire time instead (`.runsAt(T)`).
public enum FireMatching {
    /// What a downstream run for T needs of one upstream job.
    public enum Need: Sendable, Equatable {
        /// A run that succeeded (or was passed) for each of these fire times, oldest first.
        case fires([Instant])
        /// The upstream is manual-only: a run of it for fire time T.
        case runsAt(Instant)
    }

    /// At most this many fires of one upstream in one period (a minutely job
    /// under a monthly one has 44,640); a need beyond it is refused where the
    /// graph is defined, not here.
    public static let maximumFires = 100_000

    /// U's fires for T, where the downstream runs on `downstream` in `downstreamZone`.
    public static func upstreamFires(
        of upstream: Schedule, in upstreamZone: Zone, forDownstream downstream: Schedule,
        in downstreamZone: Zone, at t: Instant
    ) -> Need {
        if upstream.isManual { return .runsAt(t) }
        if upstream.next(after: t - .seconds(1), in: upstreamZone) == t { return .fires([t]) }
        if let start = downstream.previous(before: t, in: downstreamZone) {
            var fires: [Instant] = []
            var cursor = start
            while let f = upstream.next(after: cursor, in: upstreamZone), f <= t, fires.count < maximumFires {
                fires.append(f)
                cursor = f
            }
            if !fires.isEmpty { return .fires(fires) }
        }
        return .fires(upstream.previous(before: t, in: upstreamZone).map { [$0] } ?? [])
    }
}
