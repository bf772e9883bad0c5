import OctoTime
import Testing

@testable import OctoCore

/// Which queued runs a claim takes, without a database.
struct ClaimPlanTests {
    func job(_ id: Int64, _ concurrency: Job.Concurrency, maxParallel: Int = 1) -> Job {
        var j = Job(name: "j\(id)", command: "true")
        (j.id, j.concurrency, j.maxParallel) = (id, concurrency, maxParallel)
        return j
    }

    typealias C = ClaimPlan.Candidate

    @Test func takesInQueueOrderWhileSlotsLast() {
        let jobs = [1: job(1, .queue), 2: job(2, .queue), 3: job(3, .queue)] as [Int64: Job]
        let p = ClaimPlan.plan(
            [C(runID: 30, jobID: 3), C(runID: 10, jobID: 1), C(runID: 20, jobID: 2)], jobs: jobs, active: [:], free: 2)
        #expect(p.take.map(\.runID) == [30, 10])
        #expect(p.take.map(\.job.name) == ["j3", "j1"])
        #expect(p.skipIfScheduled.isEmpty)
    }

    @Test func oneRunPerSeriesUnlessAllowAndForcedRunsIgnoreThePolicy() {
        let jobs = [1: job(1, .queue), 2: job(2, .allow, maxParallel: 3)] as [Int64: Job]
        let p = ClaimPlan.plan(
            [
                C(runID: 1, jobID: 1), C(runID: 2, jobID: 1), C(runID: 3, jobID: 1, forced: true),
                C(runID: 4, jobID: 2), C(runID: 5, jobID: 2), C(runID: 6, jobID: 2), C(runID: 7, jobID: 2)
            ], jobs: jobs, active: [ClaimPlan.Series(job: 2, routeKey: ""): .init(running: 1)], free: 10)
        #expect(p.take.map(\.runID) == [1, 3, 4, 5])
        #expect(p.skipIfScheduled.isEmpty)  // queue and allow wait their turn
    }

    @Test func forbidSkipsOnlyWhenARunIsRunningAndAStoppingRunMakesItWait() {
        let jobs = [1: job(1, .forbid), 2: job(2, .forbid)] as [Int64: Job]
        let active: [ClaimPlan.Series: ClaimPlan.Active] = [
            .init(job: 1, routeKey: ""): .init(running: 1), .init(job: 2, routeKey: ""): .init(stopping: 1)
        ]
        let p = ClaimPlan.plan([C(runID: 1, jobID: 1), C(runID: 2, jobID: 2)], jobs: jobs, active: active, free: 5)
        #expect(p.take.isEmpty)
        #expect(p.skipIfScheduled == [1])
    }

    @Test func aBroadcastJobsSeriesAreItsMachinesAndAGoneJobIsLeftAlone() {
        let jobs = [1: job(1, .forbid)] as [Int64: Job]
        let p = ClaimPlan.plan(
            [C(runID: 1, jobID: 1, routeKey: "m1"), C(runID: 2, jobID: 1, routeKey: "m2"), C(runID: 3, jobID: 9)],
            jobs: jobs, active: [.init(job: 1, routeKey: "m1"): .init(running: 1)], free: 5)
        #expect(p.take.map(\.runID) == [2])
        #expect(p.skipIfScheduled == [1])
    }

    /// A claim's lease token: 32 lowercase hex digits from 128 random bits, never the same twice.
    @Test func leaseTokensAreRandomHex() {
        let tokens = (0..<2000).map { _ in RunQueue.newToken() }
        #expect(Set(tokens).count == tokens.count)
        #expect(tokens.allSatisfy { $0.prefix(16) != $0.suffix(16) }, "a token's two halves from one draw")
        #expect(
            tokens.allSatisfy { $0.utf8.count == 32 && $0.utf8.allSatisfy { "0123456789abcdef".utf8.contains($0) } })
        // every position takes all sixteen digits: no digit is fixed or drawn from part of a byte
        for position in 0..<32 {
            let digits = Set(tokens.map { Array($0.utf8)[position] })
            #expect(digits.count == 16, "position \(position): \(digits.count) digits")
        }
    }
}
