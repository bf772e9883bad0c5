/// Why a supervisor stops a job before it ends by itself.
enum StopReason: Equatable, Sendable {
    /// The job's `timeout` passed.
    case timeout
    /// The run is no longer this machine's (killed, lost or replaced): it ends `cancelled`, its end is not recorded.
    case fenced
    /// The lease could not be renewed in time: the run ends `lost`.
    case leaseLost
    /// octo got SIGTERM, SIGINT or SIGHUP.
    case interrupted
}

/// A supervised run's process from its start to its exit, as an explicit
/// state machine: every transition is here, and each returns the signal the
/// supervisor must send to the job's process group (nil: none).
///
/// ```
/// running ──stop(timeout | interrupted | fenced)──▶ terminating ──grace over──▶ killed
///    │                                                   │                        ▲
///    └────────────────leaseLapsed (SIGKILL at once)──────┴────────────────────────┘
/// ```
/// `fenced` overrides an earlier reason (the run is no longer ours, whatever
/// else happened: SIGTERM again); a fenced run whose lease lapses keeps its
/// reason (it was cancelled). The exit is recorded beside the phase: a
/// process may exit in any phase.
struct RunLifecycle: Equatable, Sendable {
    enum Phase: Equatable, Sendable {
        case running
        /// SIGTERM sent at `since`; SIGKILL follows after the grace.
        case terminating(StopReason, since: Double)
        /// SIGKILL sent.
        case killed(StopReason)
    }

    enum Signal: Equatable, Sendable { case terminate, kill }

    private(set) var phase = Phase.running
    /// When the process was seen gone (its status read or its status pipe closed).
    private(set) var exitedAt: Double?

    /// Why the run was stopped, nil while nothing stopped it.
    var stop: StopReason? {
        switch phase {
        case .running: nil
        case .terminating(let why, _), .killed(let why): why
        }
    }

    var isFenced: Bool { stop == .fenced }
    var hasExited: Bool { exitedAt != nil }

    /// When SIGKILL is due (nil unless terminating).
    func killDue(grace: Double) -> Double? {
        if case .terminating(_, let since) = phase { return since + grace }
        return nil
    }

    /// Asks the job to stop for `why` at `now`. A timeout or an interruption
    /// applies only to a run nothing stopped yet; fencing applies once, over any other reason.
    mutating func stop(_ why: StopReason, at now: Double) -> Signal? {
        switch (why, phase) {
        case (.fenced, _) where stop == .fenced:
            return nil
        case (.fenced, .killed):
            phase = .killed(.fenced)
        case (.fenced, _):
            phase = .terminating(.fenced, since: now)
        case (_, .running):
            phase = .terminating(why, since: now)
        default:
            return nil
        }
        return .terminate
    }

    /// SIGKILL once the grace after SIGTERM is over.
    mutating func graceOver(at now: Double, grace: Double) -> Signal? {
        guard case .terminating(let why, let since) = phase, now >= since + grace else { return nil }
        phase = .killed(why)
        return .kill
    }

    /// The lease could not be renewed in time: SIGKILL at once (once).
    mutating func leaseLapsed() -> Signal? {
        switch phase {
        case .killed(.leaseLost), .killed(.fenced), .terminating(.leaseLost, _): return nil
        case .terminating(.fenced, _): phase = .killed(.fenced)
        default: phase = .killed(.leaseLost)
        }
        return .kill
    }

    mutating func exited(at now: Double) {
        if exitedAt == nil { exitedAt = now }
    }
}
