import OctoTime
import TestSupport
import Testing

@testable import OctoCore

#if canImport(Glibc)
    import Glibc
#endif

/// The logger's pipeline and its store thread, without a database: a writer that has no connection stores
/// into the spool, or, without a spool either, fails.
struct LogPipelineTests {
    func pipeline(_ writer: LogWriter, maxDelay: Double = LogPipeline.maxDelay) -> LogPipeline {
        LogPipeline(
            writer: writer, defaults: .init(name: "t", level: .info), format: LogFormat(zone: .utc),
            clock: ServerClock(local: ()), maxDelay: maxDelay)
    }

    /// A store is due at `maxLines` while the thread is free; while it still stores the last batch, lines
    /// gather up to `capLines` (fewer, larger statements), and that whole batch is the next store.
    @Test func linesGatherWhileTheThreadStoresUpToTheCap() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let spool = Spool(stateDirectory: dir.path)
        // the first store's connection attempt waits for the test's word, so the thread is busy until then
        var gate: [Int32] = [0, 0]
        try #require(pipe(&gate) == 0)
        let (wait, release) = (gate[0], gate[1])
        // not inherited by processes other tests start meanwhile (they would hold the end of file back)
        for fd in gate { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        defer { close(wait) }
        var released = false
        func letGo() {  // end of file: this attempt and every later one returns at once
            guard !released else { return }
            released = true
            close(release)
        }
        struct Refused: Error {}
        let testThread = pthread_self()
        let writer = LogWriter(nil, machine: "m1", spool: spool) {
            // no thread to be had stores on the caller's: fail the expectations below, do not wait for ever
            guard pthread_equal(pthread_self(), testThread) == 0 else { throw Refused() }
            var byte: UInt8 = 0
            _ = read(wait, &byte, 1)
            throw Refused()
        }
        // no store falls due by age here, however slow the machine
        let p = pipeline(writer, maxDelay: 3600)
        defer { letGo() }  // before the pipeline goes (its deinit waits for the thread)
        for i in 1...LogPipeline.maxLines { p.add("a\(i)", truncated: false) }
        #expect(p.secondsUntilDue == 0)
        try p.storeIfDue()  // handed: the thread now waits in the connection attempt
        for i in 1...LogPipeline.maxLines { p.add("b\(i)", truncated: false) }
        #expect(p.secondsUntilDue ?? 0 > 0, "due at \(LogPipeline.maxLines) lines although the thread is busy")
        for i in (LogPipeline.maxLines + 1)..<LogPipeline.capLines { p.add("b\(i)", truncated: false) }
        #expect(p.secondsUntilDue ?? 0 > 0)
        p.add("b\(LogPipeline.capLines)", truncated: false)
        #expect(p.secondsUntilDue == 0, "not due at the cap")
        letGo()
        try p.storeIfDue()  // waits for the first batch to be spooled, then hands the whole second one
        #expect(p.secondsUntilDue == nil)
        try p.finish()
        #expect(writer.spooledLines == LogPipeline.maxLines + LogPipeline.capLines)
    }

    /// A pipeline released while its store thread still stores (no `finish`) waits for that store: the
    /// lines handed are kept, and nothing runs on a released pipeline.
    @Test func aPipelineReleasedWhileItStoresKeepsWhatItHanded() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let spool = Spool(stateDirectory: dir.path)
        // a connection attempt that takes a while keeps the thread inside the store while the pipeline goes
        struct Refused: Error {}
        let writer = LogWriter(nil, machine: "m1", spool: spool) {
            usleep(300_000)
            throw Refused()
        }
        var p: LogPipeline? = pipeline(writer)
        for i in 1...10_000 { p!.add("line \(i)", truncated: false) }
        try p!.store()
        p = nil
        #expect(writer.spooledLines == 10_000)
        #expect(spool.files().count == 1)
    }

    /// With neither a database nor a spool (and no `spill`), a store's failure is thrown by the next store,
    /// once; the lines stay, and `takeUnstored` gives every line back in the order it was read.
    @Test func aFailedStoreIsThrownOnceAndItsLinesComeBackInOrder() throws {
        let p = pipeline(LogWriter(nil, machine: "m1"))
        for i in 1...3 { p.add("a\(i)", truncated: false) }
        try p.store()  // handed: the thread fails on it
        for i in 1...2 { p.add("b\(i)", truncated: false) }
        #expect(throws: (any Error).self) { try p.store() }
        try p.store()  // thrown once: this one hands the b lines, and fails again on the thread
        p.add("c1", truncated: false)
        #expect(throws: (any Error).self) { try p.finish() }
        #expect(p.takeUnstored().map(\.content) == ["a1", "a2", "a3", "b1", "b2", "c1"])
    }

    /// A `spill` takes what neither the database nor the spool took, with the reason, on the store thread.
    @Test func aSpillGetsTheLinesNobodyTookWithTheReason() throws {
        let p = pipeline(LogWriter(nil, machine: "m1"))
        nonisolated(unsafe) var spilled: [(String, String)] = []
        p.spill = { line, reason in spilled.append((line.content, reason)) }
        for i in 1...5 { p.add("x\(i)", truncated: false) }
        try p.finish()
        #expect(spilled.map(\.0) == ["x1", "x2", "x3", "x4", "x5"])
        #expect(spilled.allSatisfy { $0.1.contains("no log spool") }, "\(spilled.map(\.1))")
        #expect(p.unkeptCount == 5)
        #expect(p.takeUnstored().isEmpty)
    }
}
