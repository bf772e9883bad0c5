import MariaDB
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

/// Output lines on their way to the `logs` table, the path shared by
/// `octo logger` (stdin, or a command it runs): each line is parsed when it
/// is in the Octopus format (`LogFormat`) or else stored whole with the
/// pipeline's name and level; lines are batched and stored at the latest
/// `maxDelay` after they arrived, so a slow program's line shows up within a
/// second while a fast one gets bulk inserts. A batch is stored on a thread
/// of its own (`StoreThread`) while the next one is read and parsed.
public final class LogPipeline {
    /// Name, level and run for lines that do not say otherwise.
    public struct Defaults: Sendable {
        public var name: String
        public var level: LogLevel
        public var runID: Int64?
        public init(name: String, level: LogLevel, runID: Int64? = nil) {
            (self.name, self.level, self.runID) = (name, level, runID)
        }
    }

    /// Where the lines go. The store thread uses it from the first store on: read it again after `finish()`
    /// (or `takeUnstored()`).
    public var writer: LogWriter { sink.writer }
    public let defaults: Defaults
    let format: LogFormat
    let clock: ServerClock
    /// The batch being read, not yet handed to the store thread.
    private var batch: [LogLine] = []
    private var batchBytes = 0
    /// Monotonic microseconds when the batch's first line arrived.
    private var batchSince: Int64?
    /// What the store thread works with: never the pipeline itself, which the reading thread uses (and may
    /// release) meanwhile.
    private let sink: Sink
    private let storer: StoreThread
    /// Lines handed to the pipeline.
    public private(set) var lineCount = 0
    /// Lines neither the database nor the spool took (a full disk during an outage): each went to `spill`.
    /// Read it after `finish()`.
    public var unkeptCount: Int { sink.unkeptCount }
    /// Where a line goes that could be neither stored nor spooled (`octo logger`: stderr), with why, so nothing
    /// is lost silently. Set it before the first line: it is called on the store thread, and must not call
    /// back into the pipeline (it would wait for itself).
    public var spill: ((LogLine, _ reason: String) -> Void)? {
        get { sink.spill }
        set { sink.spill = newValue }
    }

    /// The store thread's side: the writer, and what became of lines it could not keep.
    final class Sink {
        let writer: LogWriter
        var spill: ((LogLine, String) -> Void)?
        var unkeptCount = 0

        init(_ writer: LogWriter) { self.writer = writer }

        /// A batch into the writer (an empty one: a spool replay that is due); returns why it was not kept
        /// when there is no `spill` to take the lines.
        func store(_ lines: inout [LogLine]) -> (any Error)? {
            for line in lines { writer.append(line) }
            lines = []  // the writer holds them now
            do {
                try writer.store()
            } catch {
                guard let spill else { return error }
                let lines = writer.takePending()
                let reason = "\(error)"
                unkeptCount += lines.count
                for line in lines { spill(line, reason) }
            }
            return nil
        }
    }

    /// A store is due once the oldest pending line is this old (seconds)…
    public static let maxDelay = 0.2
    /// …or this many lines or bytes are pending and the store thread is free to take them…
    static let maxLines = 4096
    static let maxBytes = 1 << 20
    /// …or, while it still stores the last batch, this many: when the server is the slower side, lines
    /// gather into fewer, larger statements (each statement commits; docs/benchmarks.md "Ingest").
    static let capLines = 16384
    static let capBytes = 4 << 20

    /// `maxDelay`, or another for a test.
    private let delay: Double

    public init(
        writer: LogWriter, defaults: Defaults, format: LogFormat, clock: ServerClock,
        maxDelay: Double = LogPipeline.maxDelay
    ) {
        (self.defaults, self.format, self.clock, delay) = (defaults, format, clock, maxDelay)
        let sink = Sink(writer)
        self.sink = sink
        storer = StoreThread(store: { sink.store(&$0) }, idle: { sink.writer.secondsUntilRecovery })
    }

    deinit { _ = storer.stop() }

    /// One line of output (`stderr`: it came from a command's stderr, so its
    /// default level is at least `warn`).
    public func add(_ text: String, truncated: Bool, stderr: Bool = false) {
        var line: LogLine
        if let p = format.parse(text) {
            line = LogLine(
                loggedAt: p.time, jobName: p.name, runID: defaults.runID, level: p.level, code: p.code,
                content: p.content)
        } else {
            let level = stderr ? min(defaults.level, .warn) : defaults.level
            line = LogLine(
                loggedAt: clock.now(), jobName: defaults.name, runID: defaults.runID, level: level, content: text)
        }
        line.truncated = truncated
        append(line)
    }

    /// A line octo writes itself (`100 start`, `110 heartbeat`, `120 end`, notices).
    public func event(_ level: LogLevel, _ code: LogCode?, _ content: String) {
        append(
            LogLine(
                loggedAt: clock.now(), jobName: defaults.name, runID: defaults.runID, level: level, code: code,
                content: content))
    }

    private func append(_ line: LogLine) {
        lineCount += 1
        if batch.isEmpty { batchSince = Monotonic.microseconds() }
        batchBytes += line.content.utf8.count + 64
        batch.append(line)
    }

    /// Seconds until a store is due (nil: nothing pending).
    public var secondsUntilDue: Double? {
        guard let since = batchSince else { return nil }
        if batch.count >= LogPipeline.capLines || batchBytes >= LogPipeline.capBytes { return 0 }
        if batch.count >= LogPipeline.maxLines || batchBytes >= LogPipeline.maxBytes, !storer.isBusy { return 0 }
        return max(0, Double(since) / 1_000_000 + delay - Monotonic.seconds())
    }

    /// Stores (or spools) the pending lines if a store is due.
    public func storeIfDue() throws {
        guard let wait = secondsUntilDue, wait <= 0 else { return }
        try store()
    }

    /// Hands the pending lines to the store thread once it stored the last batch, and goes on. The thread
    /// stores them, or spools them; with a `spill`, lines that neither the database nor the spool took go to
    /// it, so reading goes on (bounded memory) and a later store may again keep what it can; without one,
    /// the error is thrown here, by the next store, and the lines stay in the writer: the store after it
    /// tries them again (before the lines read since), or `takeUnstored()` takes them.
    public func store() throws {
        if let failure = storer.waitUntilIdle() { throw failure }
        guard !batch.isEmpty else { return }
        storer.hand(takeBatch())
    }

    /// Stores the last lines and waits for them; see `LogWriter.finish`.
    public func finish() throws {
        try store()
        if let failure = storer.stop() { throw failure }
        try writer.finish()
    }

    /// The lines neither stored nor spooled, after `store` or `finish` threw (the caller prints them), in the
    /// order they were read.
    public func takeUnstored() -> [LogLine] {
        _ = storer.stop()
        return writer.takePending() + takeBatch()
    }

    /// The batch being read, which starts again empty.
    private func takeBatch() -> [LogLine] {
        defer {
            batch = []
            batchBytes = 0
            batchSince = nil
        }
        return batch
    }

    /// Milliseconds for poll(2) until the next store is due, capped at `cap` (-1: wait indefinitely).
    public func pollTimeout(cap: Double? = nil) -> Int32 {
        let wait = [secondsUntilDue, cap].compactMap { $0 }.min()
        guard let wait else { return -1 }
        return Int32(min(60_000, (wait * 1000).rounded(.up)))
    }
}

/// `octo logger` without a command: every line of a descriptor (stdin) into
/// a pipeline, optionally copied unchanged to another (`--tee`).
public enum StreamLogger {
    /// How reading ended.
    public enum End: Sendable, Equatable {
        /// End of input.
        case endOfInput
        /// A SIGTERM, SIGINT or SIGHUP arrived (number); what was read is stored.
        case signal(Int32)
    }

    /// Reads `input` to its end (or to a stop signal, when the caller
    /// installed `octo_catch_stop_signals`) and stores every line. A failing
    /// `tee` (the reader downstream went away: EPIPE) stops the copy, never
    /// the logging. Memory is bounded: lines longer than `LogText.maxBytes`
    /// are cut, and at most two batches of up to 4 MiB are held (one being
    /// stored, one being read).
    public static func run(input: Int32, tee: Int32?, pipeline: LogPipeline, stopSignal: () -> Int32) throws -> End {
        var splitter = LineSplitter()
        var teeFD = tee
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var end = End.endOfInput
        while true {
            let sig = stopSignal()
            if sig != 0 {
                end = .signal(sig)
                break
            }
            var pfd = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
            let rc = poll(&pfd, 1, pipeline.pollTimeout())
            if rc < 0 {
                if errno == EINTR { continue }
                break
            }
            if rc == 0 {
                try pipeline.storeIfDue()
                continue
            }
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                break
            }
            if n == 0 { break }
            if let fd = teeFD, !writeAll(fd, Array(buffer[0..<n])) { teeFD = nil }
            let lines = buffer.withUnsafeBytes { splitter.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            for l in lines { pipeline.add(l.text, truncated: l.truncated) }
            try pipeline.storeIfDue()
        }
        if let last = splitter.finish() { pipeline.add(last.text, truncated: last.truncated) }
        try pipeline.finish()
        return end
    }
}
