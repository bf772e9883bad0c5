import MariaDB
import OctoCore
import OctoTime

/// The one reader of the `logs` table behind every live page of this server: while anyone follows a run or a
/// log search, it reads the new lines (all of them, by id) and the states of the runs followed once per poll
/// interval, and hands each follower the lines its filter selects. So fifty browsers cost the database what one
/// does. A follower's first lines (those stored before it came) it reads itself, once.
///
/// A follower that does not keep up (its browser reads slower than lines come for a minute's worth of polls)
/// is dropped: its stream ends and the browser reconnects from the last line it got. A database error ends
/// every stream the same way.
actor LiveLogs {
    /// What one poll brought a follower: the lines for it, and (following a run) that run's state, nil when
    /// the run is not there.
    struct Batch: Sendable {
        var lines: [Line]
        var state: Run.State?
        /// The follower's run was among those this poll read (it came while the poll was under way: not yet).
        var stateRead: Bool
    }

    /// A line and its event, written once for every follower it goes to.
    struct Line: Sendable {
        let line: LogQuery.Line
        let event: String
    }

    /// A line's Server-Sent Event (the same for a run's page and a log search): its id is the line's, so a
    /// reconnecting browser's `Last-Event-ID` resumes after it.
    static func event(_ l: LogQuery.Line) throws -> String {
        let data = try JSON.object([
            "id": .int(l.id), "at": .string(Zone.utc.format(l.loggedAt)), "level": .string(l.level.rawValue),
            "job": .string(l.jobName), "machine": .string(l.machine), "text": .string(l.content)
        ]).text()
        return "id: \(l.id)\nevent: line\ndata: \(data)\n\n"
    }

    struct Subscription: Sendable {
        let id: UInt64
        let batches: AsyncStream<Batch>
    }

    struct Follower {
        let filter: LogQuery.Filter
        let run: Int64?
        let continuation: AsyncStream<Batch>.Continuation
    }

    let pool: DatabasePool
    let interval: Duration
    private var followers: [UInt64: Follower] = [:]
    private var lastID: UInt64 = 0
    private var loop: Task<Void, Never>?
    /// The reader's start: it begins after the lines stored when the first follower came.
    private var ready: Task<Unchecked<LogQuery.Follower>, any Error>?

    init(pool: DatabasePool, interval: Duration) {
        self.pool = pool
        self.interval = interval
    }

    /// Registers a follower; from here on every line its filter selects reaches it, in the batches of the polls
    /// that follow. Returns once the reader is placed, so lines stored before that are the follower's to read.
    func subscribe(_ filter: LogQuery.Filter, run: Int64?) async throws -> Subscription {
        // a minute's worth of polls may wait for a slow browser; beyond that it is dropped (and reconnects)
        let (stream, continuation) = AsyncStream.makeStream(
            of: Batch.self, bufferingPolicy: .bufferingOldest(Int(Duration.seconds(60) / interval)))
        lastID += 1
        let id = lastID
        followers[id] = Follower(filter: filter, run: run, continuation: continuation)
        if loop == nil { start() }
        do {
            _ = try await ready!.value
        } catch {
            unsubscribe(id)
            throw error
        }
        return Subscription(id: id, batches: stream)
    }

    func unsubscribe(_ id: UInt64) {
        followers.removeValue(forKey: id)?.continuation.finish()
        if followers.isEmpty { stop() }
    }

    private func start() {
        let pool = self.pool
        let interval = self.interval
        let ready = Task {
            try await pool.run { db in
                // placed a little below the last line and its first poll read and dropped: what is stored now is
                // the followers' to read, and a line below the last id that commits later is still seen
                let reader = LogQuery.Follower(
                    LogQuery.Filter(), after: max(0, try LogQuery.lastID(db) - 1000), horizon: nil)
                _ = try reader.poll(db)
                return Unchecked(reader)
            }
        }
        self.ready = ready
        // the loop runs on this actor between its awaits; a stopped loop (its followers gone, maybe new ones
        // come) touches nothing after its await returns
        loop = Task {
            let reader = try? await ready.value
            guard !Task.isCancelled else { return }
            guard let reader else { return self.endAll() }
            while !Task.isCancelled {
                let runs = self.followedRuns()
                let polled: (states: [Int64: Run.State], lines: [LogQuery.Line])?
                do {
                    polled = try await pool.run { db in
                        // states first: a run seen ended has every line of it stored, so the lines read next
                        // include its last ones
                        (try RunQueue.states(db, runs), try reader.value.poll(db))
                    }
                } catch {
                    polled = nil
                }
                guard !Task.isCancelled else { return }
                guard let polled else { return self.endAll() }
                self.deliver(polled.lines, polled.states, read: Set(runs))
                try? await Task.sleep(for: interval)
            }
        }
    }

    private func stop() {
        loop?.cancel()
        loop = nil
        ready = nil
    }

    private func endAll() {
        for f in followers.values { f.continuation.finish() }
        followers = [:]
        stop()
    }

    private func followedRuns() -> [Int64] { Array(Set(followers.values.compactMap(\.run))) }

    private func deliver(_ lines: [LogQuery.Line], _ states: [Int64: Run.State], read: Set<Int64>) {
        // each line's event is written once, when the first follower it is for is found
        var events: [String?] = Array(repeating: nil, count: lines.count)
        for (id, f) in followers {
            var mine: [Line] = []
            for (i, l) in lines.enumerated() where f.filter.matches(l) {
                if events[i] == nil { events[i] = (try? LiveLogs.event(l)) ?? "" }
                mine.append(Line(line: l, event: events[i]!))
            }
            let batch = Batch(
                lines: mine, state: f.run.flatMap { states[$0] }, stateRead: f.run.map(read.contains) ?? false)
            if case .dropped = f.continuation.yield(batch) { unsubscribe(id) }
        }
    }
}
