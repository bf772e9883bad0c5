import MariaDB
import OctoTime
import TestSupport
import Testing

@testable import OctoCore

#if canImport(Glibc)
    import Glibc
#endif

/// What `LogStore` stores for times outside `DATETIME`'s range (only a spool an older octo wrote can hand it one):
/// the nearest time of the range, through both ways a batch goes (`LOAD DATA`, INSERT), every line once, the
/// other lines' times exact. Fails without the clamp in either (a later time read back as NULL, a zero date; an
/// earlier one stored as it was).
@Suite(.database, .bounded)
struct LogStoreTests {
    @Test func aTimeOutsideDatetimesRangeIsStoredAsTheNearestOneInIt() async throws {
        try await withInit { _, db in
            let now = try JobStore.serverNow(db)
            let late = Instant(secondsSinceEpoch: 253_402_300_800 + 7200)  // 10000-01-01T02:00:00Z
            let early = Instant(secondsSinceEpoch: -30_610_224_000 - 86_400)  // 0999-12-31T00:00:00Z
            var expected: [String: Instant] = [:]
            func rows(_ batch: String, _ count: Int) -> ArraySlice<(LogLine, Int64)> {
                ArraySlice(
                    (0..<count).map { k in
                        let t = k == 1 ? late : k == 2 ? early : now + .microseconds(Int64(k) * 1_001)
                        expected["\(batch) \(k)"] = k == 1 ? LogStoreTests.last : k == 2 ? LogStoreTests.first : t
                        return (LogLine(loggedAt: t, jobName: batch, level: .info, content: "\(batch) \(k)"), Int64(k))
                    })
            }
            // LOAD DATA itself (`insert` would fall back to INSERT for good if another test had just turned the
            // server's local_infile off): tried until the server takes it
            let bulk = rows("bulk", 100)
            #expect(
                try await Processes.waitUntil(seconds: 120) {
                    do {
                        try LogStore.load(db, bulk, machine: "m1", streamID: 1)
                        return true
                    } catch let e as MariaDBError where e.code == .localInfileDisabled || e.code == .commandNotAllowed {
                        return false
                    }
                })
            let small = rows("small", 3)
            #expect(small.count < LogStore.bulkRows)
            try LogStore.insert(db, small, machine: "m1", streamID: 2)
            let stored = try db.query("SELECT content, logged_at FROM logs").rows.map {
                (try $0.decode("content", as: String.self), try $0.decode("logged_at", as: Instant?.self))
            }
            #expect(stored.count == expected.count)
            #expect(Set(stored.map(\.0)) == Set(expected.keys))
            for (content, at) in stored {
                #expect(at == expected[content], "\(content): \(String(describing: at))")
            }
        }
    }

    static let last = Instant(year: 9999, month: 12, day: 31, hour: 23, minute: 59, second: 59, microsecond: 999_999)!
    static let first = Instant(year: 1000, month: 1, day: 1)!

    /// A spool file with a line the database refuses for good (here a run id out of range: an older octo took
    /// any OCTO_RUN_ID) is set aside as `.refused`; it no longer stops the replay of the files after it. Fails on
    /// the old code (the replay threw at the first file, every time).
    @Test func aSpoolFileTheDatabaseRefusesIsSetAsideAndTheOthersAreReplayed() async throws {
        try await withInit { _, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let now = try JobStore.serverNow(db)
            for (stream, runID, text): (Int64, Int64, String) in [(1_000_001, -1, "poison"), (1_000_002, 7, "fine")] {
                let w = try SpoolFile.Writer(directory: dir.path + "/spool", machine: "m1", streamID: stream)
                try w.append([
                    (LogLine(loggedAt: now, jobName: "j", runID: runID, level: .info, content: text), Int64(1))
                ])
                w.close()
            }
            let spool = Spool(stateDirectory: dir.path)
            #expect(spool.files().count == 2)
            let r = try spool.replay(db)
            #expect(r.lines == 1 && r.files == 1, "\(r)")
            #expect(r.refused.count == 1 && r.refused[0].file.hasSuffix(".refused"), "\(r.refused)")
            #expect(r.refused.first.map { readFileBytes($0.file) != nil } == true)
            let stored = try db.query("SELECT content FROM logs WHERE job_name = 'j'").rows.map {
                try $0.decode("content", as: String.self)
            }
            #expect(stored == ["fine"])
            #expect(spool.files().isEmpty)
        }
    }
}

/// The lines a run's end writes in the transaction that records the end (`LogWriter.write`).
@Suite(.database, .bounded)
struct LogWriterTransactionTests {
    /// A stream that spools, whose last lines neither the replay nor the spool took just before the transaction
    /// (the database came back only then; the disk is full), writes them in the transaction; the spooled ones
    /// follow with the next replay. Fails on the old code (it wrote nothing while spooling, and the commit
    /// dropped the lines).
    @Test func linesTheSpoolDidNotTakeAreWrittenInTheTransaction() async throws {
        try await withInit { _, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let spool = Spool(stateDirectory: dir.path)
            let writer = LogWriter(db, machine: "m1", spool: spool)
            let now = try JobStore.serverNow(db)
            func line(_ k: Int) -> LogLine {
                LogLine(loggedAt: now + .microseconds(Int64(k)), jobName: "ending", level: .info, content: "\(k)")
            }
            for k in 1...3 { writer.append(line(k)) }
            try writer.spoolPending()  // the database was away: these went to the spool
            #expect(writer.isSpooling && writer.spooledLines == 3)
            for k in 4...5 { writer.append(line(k)) }  // these the spool did not take
            try db.transaction { try writer.write() }
            writer.written()
            func stored() throws -> [String] {
                try db.query("SELECT content FROM logs WHERE job_name = 'ending' ORDER BY logged_at").rows.map {
                    try $0.decode("content")
                }
            }
            #expect(try stored() == ["4", "5"])
            try writer.finish()  // the writer's own replay of its spool file
            #expect(try stored() == ["1", "2", "3", "4", "5"])
            #expect(spool.files().isEmpty)
        }
    }
}

/// Which spools a replay takes lines from.
@Suite(.database, .bounded)
struct SpoolReplayTests {
    /// A spool others can write is not replayed (its lines would be stored as this user's); the error says why.
    /// Fails on the old code (it replayed the file).
    @Test func aSpoolOthersCanWriteIsNotReplayed() async throws {
        try await withInit { _, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let spool = Spool(stateDirectory: dir.path)
            // with nothing in it, nothing is said (cron would mail it every minute)
            chmod(dir.path, 0o777)
            #expect(try spool.replay(db) == Spool.Replayed())
            chmod(dir.path, 0o700)
            let writer = LogWriter(nil, machine: "m1", spool: spool)
            writer.append(
                LogLine(loggedAt: try JobStore.serverNow(db), jobName: "planted", level: .fatal, content: "x"))
            try writer.spoolPending()
            try writer.finish()
            #expect(spool.files().count == 1)
            chmod(spool.directory, 0o777)
            let e = #expect(throws: OctoError.self) { try spool.replay(db) }
            #expect(e?.message.contains("is writable by others") == true, "\(e?.message ?? "")")
            #expect(spool.files().count == 1)
            let n: Int = try db.query("SELECT COUNT(*) AS n FROM logs WHERE job_name = 'planted'").first!.decode("n")
            #expect(n == 0)
            chmod(spool.directory, 0o700)
            #expect(try spool.replay(db).lines == 1)
        }
    }

    /// A damaged record with more of the file after it (not a crash's torn tail): the lines before it are stored
    /// and the file is kept as NAME.damaged. Fails on the old code (the file was removed with the lines after the
    /// damage).
    @Test func aDamagedRecordKeepsTheRestOfTheFile() async throws {
        try await withInit { _, db in
            let dir = TemporaryDirectory()
            defer { dir.remove() }
            let spool = Spool(stateDirectory: dir.path)
            let writer = LogWriter(nil, machine: "m1", spool: spool)
            let now = try JobStore.serverNow(db)
            var sizes: [Int] = []
            for k in 1...3 {
                writer.append(LogLine(loggedAt: now, jobName: "damaged", level: .info, content: "line \(k)"))
                try writer.spoolPending()
                sizes.append(readFileBytes(try #require(spool.files().first))?.count ?? 0)
            }
            try writer.finish()  // no database: the file stays
            let file = try #require(spool.files().first)
            var bytes = try #require(readFileBytes(file))
            bytes[sizes[0] + 12] ^= 0xff  // inside the second record
            let fd = open(file, O_WRONLY | O_TRUNC)
            #expect(writeAll(fd, bytes))
            close(fd)
            let r = try spool.replay(db)
            #expect(r.lines == 1 && r.damaged == [file + ".damaged"], "\(r)")
            #expect(readFileBytes(file + ".damaged") == bytes, "kept as it was")
            #expect(spool.files().isEmpty)
            let stored: [String] = try db.query("SELECT content FROM logs WHERE job_name = 'damaged'").rows.map {
                try $0.decode("content")
            }
            #expect(stored == ["line 1"])
        }
    }
}
