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
/// second while a fast one gets bulk inserts.
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

    public let writer: LogWriter
    public let defaults: Defaults
    let format: LogFormat
    let clock: ServerClock
    private var pendingBytes = 0
    /// Lines handed to the pipeline.
    public private(set) var lineCount = 0
    /// Lines neither the database nor the spool took (a full disk during an outage): each went to `spill`.
    public private(set) var unkeptCount = 0
    /// Why the last lines were not kept.
    public private(set) var unkeptReason: String?
    /// Where a line goes that could be neither stored nor spooled (`octo logger`: stderr), so nothing is lost silently.
    public var spill: ((LogLine) -> Void)?

    /// A store is due once the oldest pending line is this old (seconds)…
    public static let maxDelay = 0.2
    /// …or this many lines or bytes are pending.
    static let maxLines = 4096
    static let maxBytes = 1 << 20

    public init(writer: LogWriter, defaults: Defaults, format: LogFormat, clock: ServerClock) {
        (self.writer, self.defaults, self.format, self.clock) = (writer, defaults, format, clock)
    }

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
        pendingBytes += line.content.utf8.count + 64
        writer.append(line)
    }

    /// Seconds until a store is due (nil: nothing pending and no spool to replay).
    public var secondsUntilDue: Double? {
        let recovery = writer.secondsUntilRecovery
        guard let oldest = writer.oldestPendingAt else { return recovery }
        if writer.pendingCount >= LogPipeline.maxLines || pendingBytes >= LogPipeline.maxBytes { return 0 }
        let due = max(0, Double(oldest) / 1_000_000 + LogPipeline.maxDelay - Monotonic.seconds())
        return min(due, recovery ?? due)
    }

    /// Stores (or spools) the pending lines if a store is due.
    public func storeIfDue() throws {
        guard let wait = secondsUntilDue, wait <= 0 else { return }
        try store()
    }

    /// Stores (or spools) the pending lines now. With a `spill`, lines that
    /// neither the database nor the spool took go to it instead of staying
    /// pending, so reading goes on (bounded memory) and a later store may
    /// again keep what it can; without one, the error is thrown.
    public func store() throws {
        do {
            try writer.store()
        } catch {
            guard let spill else { throw error }
            unkeptReason = "\(error)"
            let lines = writer.takePending()
            unkeptCount += lines.count
            lines.forEach(spill)
        }
        if writer.pendingCount == 0 { pendingBytes = 0 }
    }

    /// Stores the last lines; see `LogWriter.finish`.
    public func finish() throws {
        try store()
        try writer.finish()
        pendingBytes = 0
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
    /// are cut, and at most about a megabyte waits for a store.
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
