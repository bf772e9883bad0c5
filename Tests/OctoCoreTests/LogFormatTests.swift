import MariaDB
import OctoTime
import TestSupport
import Testing

@testable import OctoCore

#if canImport(Glibc)
    import Glibc
#endif

/// The Octopus line format, and the spool's record format, without a database.
struct LogFormatTests {
    let newYork = LogFormat(zone: try! Zone.named("America/New_York"))

    /// `2013-07-04T16:41:00.25Z` (a fraction allowed).
    func at(_ s: String) -> Instant {
        guard let dot = s.firstIndex(of: ".") else { return try! TimeText.parse(s, zone: Zone.utc) }
        let digits = s[s.index(after: dot)...].dropLast()
        let micro = Int64(digits + String(repeating: "0", count: 6 - digits.count))!
        return try! TimeText.parse(String(s[..<dot]) + "Z", zone: Zone.utc) + .microseconds(micro)
    }

    @Test(
        arguments: [
            // every level and code, any case
            ("2013/07/04:16:41:00 app_name fatal boom", "app_name", LogLevel.fatal, nil, "boom"),
            ("2013/07/04:16:41:00 app_name error Process has exited!", "app_name", .error, nil, "Process has exited!"),
            ("2013/07/04:16:41:00 app_name warn w", "app_name", .warn, nil, "w"),
            ("2013/07/04:16:41:00 app_name WARNING w", "app_name", .warn, nil, "w"),
            ("2013/07/04:16:41:00 app_name info i", "app_name", .info, nil, "i"),
            ("2013/07/04:16:41:00 app_name Debug d", "app_name", .debug, nil, "d"),
            ("2013/07/04:16:41:00 app_name trace t", "app_name", .trace, nil, "t"),
            ("2013/07/04:16:41:00 app_name 100 go", "app_name", .info, LogCode.start, "go"),
            ("2013/07/04:16:41:00 app_name start go", "app_name", .info, .start, "go"),
            ("2013/07/04:16:41:00 app_name 110 alive", "app_name", .info, .heartbeat, "alive"),
            ("2013/07/04:16:41:00 app_name heartbeat alive", "app_name", .info, .heartbeat, "alive"),
            ("2013/07/04:16:41:00 app_name 120 exit 3", "app_name", .info, .end, "exit 3"),
            ("2013/07/04:16:41:00 app_name END exit 0", "app_name", .info, .end, "exit 0"),
            // names with dots, dashes, underscores; content keeps inner spacing; empty content
            ("2013/07/04:16:41:00 billing.v2-nightly_x info a  b\tc ", "billing.v2-nightly_x", .info, nil, "a  b\tc "),
            ("2013/07/04:16:41:00 app_name error", "app_name", .error, nil, ""),
            ("2013/07/04:16:41:00   app_name\terror  spaced", "app_name", .error, nil, "spaced")
        ] as [(String, String, LogLevel, LogCode?, String)])
    func parsesEveryLevelAndCode(line: String, name: String, level: LogLevel, code: LogCode?, content: String) throws {
        let p = try #require(LogFormat(zone: Zone.utc).parse(line))
        #expect(p.name == name)
        #expect(p.level == level)
        #expect(p.code == code)
        #expect(p.content == content)
        #expect(p.time == at("2013-07-04T16:41:00Z"))
    }

    @Test(arguments: [
        ("2013/07/04:16:41:00", "2013-07-04T20:41:00Z"),  // Octopus: local time (New York, EDT)
        ("2013/01/04:16:41:00.5", "2013-01-04T21:41:00.5Z"),  // EST, a fraction
        ("2013-07-04T16:41:00Z", "2013-07-04T16:41:00Z"),
        ("2013-07-04T16:41:00.123456Z", "2013-07-04T16:41:00.123456Z"),
        ("2013-07-04T16:41:00.1234567Z", "2013-07-04T16:41:00.123456Z"),  // beyond microseconds: cut
        ("2013-07-04T16:41:00+02:00", "2013-07-04T14:41:00Z"),
        ("2013-07-04T16:41:00-0530", "2013-07-04T22:11:00Z"),
        ("2013-07-04T16:41:00", "2013-07-04T20:41:00Z"),  // ISO without zone: local
        ("2013-07-04 16:41:00,250", "2013-07-04T20:41:00.25Z"),  // Python logging style
        ("2026-03-08T02:30:00", "2026-03-08T07:00:00Z"),  // inside the spring-forward gap: its end
        ("2026-11-01T01:30:00", "2026-11-01T05:30:00Z"),  // fall-back: the first 01:30
        ("1000-01-01T00:00:00Z", "1000-01-01T00:00:00Z"),  // DATETIME's range, both ends
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z")
    ])
    func parsesBothTimeFormats(time: String, utc: String) throws {
        let p = try #require(newYork.parse(time + " job info x"))
        #expect(p.time == at(utc), "\(time) → \(p.time)")
    }

    @Test(arguments: [
        "plain text",
        "",
        "2013/07/04:16:41:00",  // time only
        "2013/07/04:16:41:00 app_name",  // no level
        "2013/07/04:16:41:00 app_name loud message",  // unknown level
        "2013/07/04:16:41:00 app name error spaces in name",  // name 'app', level 'name': no such level
        "2013/07/04:16:41:00 app/name error slash",  // not a name
        "2013/02/30:16:41:00 app error no such day",
        "2013/07/04:24:00:00 app error hour 24",
        "2013/07/04:16:61:00 app error minute 61",
        "2013-07-04T16:41 app error no seconds",
        "2013/07/04 16:41:00 app error octopus date, space",
        "13/07/04:16:41:00 app error short year",
        "2013-07-04T16:41:00+25:00 app error offset",
        "2013-07-04T16:41:00. app error empty fraction",
        "2013/07/04:16:41:00 \(String(repeating: "n", count: 65)) error long name",
        "0999-07-04T16:41:00Z app error year before 1000",
        // in DATETIME's range as written, outside it in UTC: after its offset, or in New York's zone
        "9999-12-31T23:59:59-05:00 app error after 9999 in UTC",
        "9999-12-31T23:30:00 app error after 9999 in New York",
        "1000-01-01T00:30:00+01:00 app error before 1000 in UTC"
    ])
    func malformedLinesAreNotParsed(line: String) {
        #expect(newYork.parse(line) == nil, "\(line)")
    }

    @Test func levelWords() {
        #expect(LogFormat.level(word: "Warn")! == (.warn, nil))
        #expect(LogFormat.level(word: "120")! == (.info, .end))
        #expect(LogFormat.level(word: "all") == nil)
        #expect(LogFormat.level(word: "none") == nil)
        #expect(LogFormat.level(word: "130") == nil)
    }

    // MARK: - Spool records

    @Test func spoolRecordsRoundTripAndATornTailEndsTheFile() throws {
        let dir = TemporaryDirectory()
        defer {
            dir.remove()
            rmdir(dir.path + "/spool")
        }
        let lines: [(LogLine, Int64)] = [
            (
                LogLine(
                    loggedAt: at("2026-11-21T10:00:00Z") + .microseconds(7), jobName: "a.b-c", runID: 42, level: .warn,
                    code: nil,
                    content: "x'; rm -rf ~ #\u{FFFD}日本", truncated: true), 1
            ),
            (
                LogLine(
                    loggedAt: at("1999-01-01T00:00:00Z"), jobName: "j", runID: nil, level: .trace, code: .end,
                    content: ""), 2
            ),
            (
                LogLine(
                    loggedAt: at("2026-11-21T10:00:01Z"), jobName: "j", level: .fatal, code: .start,
                    content: String(repeating: "z", count: LogText.maxBytes)), 3
            )
        ]
        let writer = try SpoolFile.Writer(directory: dir.path + "/spool", machine: "w-1", streamID: -5)
        try writer.append(lines)
        writer.close()
        let files = Spool(stateDirectory: dir.path).files()
        #expect(files.count == 1)
        let reader = try SpoolFile.Reader(path: files[0])
        #expect(reader.machine == "w-1")
        #expect(reader.streamID == -5)
        var back: [SpoolFile.Record] = []
        while let r = reader.next() { back.append(r) }
        #expect(back == lines.map { SpoolFile.Record(seq: $0.1, line: $0.0) })

        // a crash mid-append leaves a torn record: it and nothing after it is read
        var bytes = readFileBytes(files[0])!
        bytes.removeLast(3)
        let torn = dir.write("torn.spool", "")
        let fd = open(torn, O_WRONLY | O_TRUNC)
        #expect(writeAll(fd, bytes))
        close(fd)
        let r2 = try SpoolFile.Reader(path: torn)
        #expect(r2.count() == 2)
        // a flipped byte fails the checksum
        bytes = readFileBytes(files[0])!
        bytes[bytes.count - 10] ^= 0x40
        let fd2 = open(torn, O_WRONLY | O_TRUNC)
        #expect(writeAll(fd2, bytes))
        close(fd2)
        #expect(try SpoolFile.Reader(path: torn).count() == 2)
        unlink(files[0])
    }

    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }
}
