import MariaDB
import OctoTime
import TestSupport
import Testing

@testable import OctoCore

#if canImport(Glibc)
    import Glibc
#endif

/// The local cursor file and cursor versions, without a database.
struct LocalCursorTests {
    static let hostile = [
        "plain", "", "x'; rm -rf ~ #", "line one\nline two\n", "$(touch pwned) `touch pwned`",
        "value 3\nstate synced\n",
        String(repeating: "漢", count: 341), "🐙 tabs\tand\r\nCRLF"
    ]

    @Test(arguments: hostile)
    func aFileRoundTripsAnyValueExactly(_ value: String) throws {
        let c = LocalCursor(
            job: "j.1", value: value, version: CursorVersion.make(epoch: 77, set: 3), runID: 12, token: "ab12",
            machine: "w-1", setAt: Instant(microsecondsSinceEpoch: 1_795_259_100_123_456), state: .pending,
            note: "refused:\nbecause")
        let bytes = CursorFiles.encode(c)
        var expected = c
        expected.note = "refused: because"  // one line in the file
        #expect(CursorFiles.decode(bytes[...]) == expected)
        // a file cut short anywhere is damaged, never misread
        for cut in [bytes.count - 1, bytes.count / 2, 10] {
            #expect(CursorFiles.decode(bytes[..<cut]) == nil)
        }
    }

    @Test func aCopyWithoutARunRoundTrips() throws {
        let c = LocalCursor(
            job: "j", value: "v", version: 5, runID: nil, token: "", machine: "m",
            setAt: Instant(microsecondsSinceEpoch: 0), state: .synced)
        #expect(CursorFiles.decode(CursorFiles.encode(c)[...]) == c)
    }

    @Test func versionsOrderRunsByClaimThenSetsWithinARun() {
        let a3 = CursorVersion.make(epoch: 5, set: 3)
        let b1 = CursorVersion.make(epoch: 6, set: 1)
        #expect(a3 < b1)
        #expect(CursorVersion.make(epoch: 5, set: CursorVersion.setsPerRun) < b1)
        #expect(CursorVersion.epoch(of: a3) == 5 && CursorVersion.setNumber(of: a3) == 3)
        #expect(CursorVersion.text(b1) == "6.1")
        // the largest epoch a BIGINT holds still orders
        let big = CursorVersion.make(epoch: (1 << 39) - 1, set: 2)
        #expect(big > 0 && CursorVersion.epoch(of: big) == (1 << 39) - 1)
    }

    @Test func valuesAreCheckedByTheirBytes() throws {
        try CursorValue.check(String(repeating: "漢", count: 341))  // 1023 bytes
        try CursorValue.check(String(repeating: "a", count: 1024))
        #expect(throws: OctoError.self) { try CursorValue.check(String(repeating: "a", count: 1025)) }
        #expect(throws: OctoError.self) { try CursorValue.check(String(repeating: "漢", count: 342)) }
        #expect(throws: OctoError.self) { try CursorValue.check("a\u{0}b") }
    }

    @Test func updatesAreAtomicAndADamagedFileIsReported() throws {
        let dir = TemporaryDirectory()
        defer { _ = try? ChildProcess.run(["rm", "-rf", dir.path]) }
        let files = CursorFiles(stateDirectory: dir.path)
        #expect(try files.read("j") == nil)
        let c = LocalCursor(
            job: "j", value: "one", version: 9, runID: 1, token: "t", machine: "m",
            setAt: Instant(microsecondsSinceEpoch: 1), state: .pending)
        try files.update("j") { $0 = c }
        #expect(try files.read("j") == c)
        #expect(files.jobs() == ["j"])  // the lock file and no temporary file are listed
        #expect(listDirectory(files.directory).sorted() == [".j.lock", "j.cursor"])
        // a job whose name begins with a dot is listed too (it was not: its cursor was never synced)
        var dotted = c
        dotted.job = ".x"
        try files.update(".x") { $0 = dotted }
        #expect(files.jobs() == [".x", "j"])
        #expect(try files.read(".x") == dotted)
        // nothing changes when the body leaves the entry alone
        try files.update("j") { _ in }
        #expect(try files.read("j") == c)
        // a damaged file is an error that names it
        let fd = open(files.path("j"), O_WRONLY | O_TRUNC)
        _ = writeAll(fd, Array("octo-cursor 1\njob j\n".utf8))
        close(fd)
        #expect(throws: OctoError.self) { try files.read("j") }
    }
}
