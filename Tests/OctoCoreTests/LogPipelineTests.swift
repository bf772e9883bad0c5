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
    func pipeline(_ writer: LogWriter) -> LogPipeline {
        LogPipeline(
            writer: writer, defaults: .init(name: "t", level: .info), format: LogFormat(zone: .utc),
            clock: ServerClock(local: ()))
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
