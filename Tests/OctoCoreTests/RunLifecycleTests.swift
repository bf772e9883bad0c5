import OctoTime
import Testing

@testable import OctoCore

/// The supervisor's state machine of a run's process, without processes.
struct RunLifecycleTests {
    @Test func aTimeoutTerminatesThenKillsAfterTheGrace() {
        var l = RunLifecycle()
        #expect(l.stop(.timeout, at: 10) == .terminate)
        #expect(l.phase == .terminating(.timeout, since: 10))
        #expect(l.killDue(grace: 5) == 15)
        #expect(l.graceOver(at: 14.9, grace: 5) == nil)
        #expect(l.graceOver(at: 15, grace: 5) == .kill)
        #expect(l.phase == .killed(.timeout) && l.stop == .timeout)
        #expect(l.graceOver(at: 99, grace: 5) == nil)
        #expect(l.stop(.interrupted, at: 20) == nil)  // already stopping: the first reason stays
        #expect(l.stop == .timeout)
    }

    @Test func fencingOverridesAnyOtherReasonOnce() {
        var l = RunLifecycle()
        #expect(l.stop(.interrupted, at: 1) == .terminate)
        #expect(l.stop(.fenced, at: 2) == .terminate)
        #expect(l.phase == .terminating(.fenced, since: 2) && l.isFenced)
        #expect(l.stop(.fenced, at: 3) == nil)
        // a fenced run whose lease lapses keeps its reason, and is killed once
        #expect(l.leaseLapsed() == .kill)
        #expect(l.phase == .killed(.fenced))
        #expect(l.leaseLapsed() == nil)
    }

    @Test func aLapsedLeaseKillsAtOnceWhateverTheJobWasDoing() {
        var running = RunLifecycle()
        #expect(running.leaseLapsed() == .kill)
        #expect(running.phase == .killed(.leaseLost))
        #expect(running.leaseLapsed() == nil)
        // a fence after the lease-kill: SIGTERM again, and the run counts as cancelled (not lost)
        #expect(running.stop(.fenced, at: 5) == .terminate)
        #expect(running.phase == .killed(.fenced) && running.killDue(grace: 5) == nil)

        var timedOut = RunLifecycle()
        _ = timedOut.stop(.timeout, at: 0)
        _ = timedOut.graceOver(at: 5, grace: 5)
        #expect(timedOut.leaseLapsed() == .kill)
        #expect(timedOut.stop == .leaseLost)
    }

    @Test func theExitIsRecordedOnceInAnyPhase() {
        var l = RunLifecycle()
        #expect(!l.hasExited)
        l.exited(at: 7)
        l.exited(at: 9)
        #expect(l.exitedAt == 7 && l.phase == .running && l.stop == nil)
    }
}
