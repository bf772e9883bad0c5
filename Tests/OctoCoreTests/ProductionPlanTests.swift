import MariaDB
import OctoTime
import Testing

@testable import OctoCore

/// Misfire and concurrency rules of `octo produce`, and routing, without a database.
struct ProductionPlanTests {
    let utcZone = try! Zone.named("UTC")
    let hourly = try! Schedule("0 * * * *")

    /// An hourly job last produced 3 hours and 30 minutes ago: 4 missed fires
    /// (the first at 12:00, now is 15:30).
    func plan(misfire: String, concurrency: String = "queue", active: Int = 0, now: String = "2026-11-21T15:30:00Z")
        -> ProductionPlan
    {
        ProductionPlan.plan(
            schedule: hourly, zone: utcZone, firstDue: utc("2026-11-21T12:00:00Z"), now: utc(now),
            misfire: Job.Misfire(rawValue: misfire)!, concurrency: Job.Concurrency(rawValue: concurrency)!,
            activeRuns: active, misfireThreshold: 60)
    }

    @Test func onceQueuesTheLatestMissedFireAndRecordsTheRest() {
        let p = plan(misfire: "once")
        #expect(p.queue == [.init(fireTime: utc("2026-11-21T15:00:00Z"), trigger: .catchup)])
        #expect(p.skip.count == 1)
        #expect(p.skip[0].fireTime == utc("2026-11-21T12:00:00Z"))
        #expect(
            p.skip[0].reason.hasPrefix("3 missed fire(s) from 2026-11-21T12:00:00Z to 2026-11-21T14:00:00Z"),
            "\(p.skip[0].reason)")
        #expect(p.nextFire == utc("2026-11-21T16:00:00Z"))
    }

    @Test func skipQueuesNothingLate() {
        let p = plan(misfire: "skip")
        #expect(p.queue.isEmpty)
        #expect(p.skip.map(\.reason).first?.hasPrefix("4 missed fire(s)") == true)
        #expect(p.nextFire == utc("2026-11-21T16:00:00Z"))
    }

    @Test func allQueuesEveryMissedFireOldestFirst() {
        let p = plan(misfire: "all")
        #expect(p.queue.map(\.fireTime) == ["12", "13", "14", "15"].map { utc("2026-11-21T\($0):00:00Z") })
        #expect(p.queue.allSatisfy { $0.trigger == .catchup })
        #expect(p.skip.isEmpty)
    }

    @Test func allIsCappedAtTheLatestHundred() {
        let p = ProductionPlan.plan(
            schedule: try! Schedule("* * * * *"), zone: utcZone, firstDue: utc("2026-11-21T12:00:00Z"),
            now: utc("2026-11-21T15:00:30Z"), misfire: .all, concurrency: .queue, activeRuns: 0, misfireThreshold: 60)
        // fires 12:00 … 15:00: 180 missed, 15:00 on time (30 s late)
        #expect(p.queue.count == 101)
        #expect(p.queue.filter { $0.trigger == .catchup }.count == 100)
        #expect(p.queue.first?.fireTime == utc("2026-11-21T13:20:00Z"))
        #expect(p.queue.last == .init(fireTime: utc("2026-11-21T15:00:00Z"), trigger: .schedule))
        #expect(
            p.skip.count == 1
                && p.skip[0].reason.hasPrefix("80 missed fire(s) from 2026-11-21T12:00:00Z to 2026-11-21T13:19:00Z"))
    }

    @Test func aFireWithinTheThresholdIsOnTime() {
        let p = plan(misfire: "skip", now: "2026-11-21T12:00:59Z")
        #expect(p.queue == [.init(fireTime: utc("2026-11-21T12:00:00Z"), trigger: .schedule)])
        #expect(p.skip.isEmpty)
        let late = plan(misfire: "skip", now: "2026-11-21T12:01:00Z")
        #expect(late.queue.isEmpty && late.skip.count == 1)
    }

    @Test func notDueYetQueuesNothing() {
        let p = plan(misfire: "once", now: "2026-11-21T11:59:59Z")
        #expect(p.queue.isEmpty && p.skip.isEmpty && p.nextFire == utc("2026-11-21T12:00:00Z"))
    }

    @Test func forbidSkipsAFireWhileARunIsActive() {
        let busy = plan(misfire: "once", concurrency: "forbid", active: 1)
        #expect(busy.queue.isEmpty)
        #expect(
            busy.skip.contains {
                $0.fireTime == utc("2026-11-21T15:00:00Z") && $0.reason.contains("concurrency forbid")
            })
        // several fires in one production: the first is queued, the others find it
        let free = plan(misfire: "all", concurrency: "forbid")
        #expect(free.queue.map(\.fireTime) == [utc("2026-11-21T12:00:00Z")])
        #expect(free.skip.filter { $0.reason.contains("forbid") }.count == 3)
    }

    @Test func replaceCancelsActiveRunsAndQueuesOnlyTheLatest() {
        let p = plan(misfire: "all", concurrency: "replace", active: 2)
        #expect(p.cancelActive)
        #expect(p.queue.map(\.fireTime) == [utc("2026-11-21T15:00:00Z")])
        #expect(p.skip.filter { $0.reason.contains("replace") }.count == 3)
        #expect(!plan(misfire: "all", concurrency: "replace", active: 0).cancelActive)
    }

    // MARK: - Routing

    let machines = [
        LiveMachine(name: "a", groups: ["etl"], unixUser: "app", slots: 2, cpus: 4, load1: 3.0, running: 0),
        LiveMachine(name: "b", groups: ["etl", "web"], unixUser: "app", slots: 2, cpus: 2, load1: 0.5, running: 2),
        LiveMachine(name: "c", groups: ["web"], unixUser: "ops", slots: 4, cpus: 8, load1: 1.0, running: 1)
    ]

    func job(_ target: String, _ strategy: String, user: String = "") -> Job {
        var j = Job(name: "j", command: "true")
        (j.target, j.strategy, j.user) = (target, Job.Strategy(rawValue: strategy)!, user)
        return j
    }

    @Test func routingFollowsTheStrategy() {
        #expect(Routing.routes(for: job("any", "any"), live: machines) == [.anyone])
        #expect(Routing.routes(for: job("c,a", "first"), live: machines) == [.init(machine: "c")])
        #expect(
            Routing.routes(for: job("c,a", "first"), live: Array(machines.prefix(2))) == [.init(machine: "a")],
            "c is not live")
        #expect(Routing.routes(for: job("group:web", "first"), live: machines) == [.init(machine: "b")])
        #expect(
            Routing.routes(for: job("group:etl", "all"), live: machines) == [
                .init(machine: "a", routeKey: "a"), .init(machine: "b", routeKey: "b")
            ])
        // least-loaded: b has no free slot; of a (0.75 per CPU) and c (0.125 per CPU), c
        #expect(Routing.routes(for: job("any", "least-loaded"), live: machines) == [.init(machine: "c")])
        #expect(Routing.routes(for: job("a,b", "least-loaded"), live: machines) == [.init(machine: "a")])
        // user: only c runs as ops
        #expect(
            Routing.routes(for: job("any", "all", user: "ops"), live: machines) == [.init(machine: "c", routeKey: "c")])
        let random = Set(
            (0..<200).compactMap { _ in Routing.routes(for: job("a,b", "random"), live: machines)[0].machine })
        #expect(random == ["a", "b"])
        #expect(
            Routing.routes(for: job("zz", "first"), live: machines) == [.anyone], "no eligible live machine: unassigned"
        )
    }

    // MARK: - Command placeholders and lines

    @Test(arguments: [
        ("echo {cursor}", "echo \"$OCTO_CURSOR\""),
        ("echo \"x{cursor}y\"", "echo \"x${OCTO_CURSOR}y\""),
        ("echo 'x{cursor}y'", "echo 'x'\"$OCTO_CURSOR\"'y'"),
        ("run --at={fire_time} \\'{cursor}", "run --at=\"$OCTO_FIRE_TIME\" \\'\"$OCTO_CURSOR\""),
        ("echo {cursors} {}", "echo {cursors} {}"),
        // nested quotes inside $( ) within double quotes; a comment's apostrophe opens nothing
        ("echo \"$(printf \"%s\" \"{cursor}\")\"", "echo \"$(printf \"%s\" \"${OCTO_CURSOR}\")\""),
        (
            "echo {cursor} # it's a comment\necho '{cursor}'",
            "echo \"$OCTO_CURSOR\" # it's a comment\necho ''\"$OCTO_CURSOR\"''"
        ),
        ("echo $(echo (x) {cursor})", "echo $(echo (x) \"$OCTO_CURSOR\")"),
        // bash's $'…' (a backslash escapes its quote), and a placeholder inside one
        ("echo $'it\\'s' {cursor} $'{cursor}'", "echo $'it\\'s' \"$OCTO_CURSOR\" $''\"$OCTO_CURSOR\"$''"),
        // a quoted here-document delimiter expands nothing: the placeholder stays as written
        ("cat <<'EOF'\n{cursor}\nEOF\necho {cursor}", "cat <<'EOF'\n{cursor}\nEOF\necho \"$OCTO_CURSOR\"")
    ])
    func placeholdersBecomeQuotedVariables(command: String, expected: String) {
        #expect(CommandTemplate.substitute(command) == expected)
    }

    /// Every form the docs promise, run by a real /bin/sh with a hostile cursor: the command sees exactly the
    /// value, never runs it. (The quote tracker misread `"$(printf "%s" "{cursor}")"` and apostrophes in
    /// comments before.)
    @Test(arguments: [
        "printf %s {cursor}", "printf %s \"{cursor}\"", "printf %s '{cursor}'", "printf %s \"<{cursor}>\" | tr -d '<>'",
        "printf %s \"$(printf %s \"{cursor}\")\"", "printf %s \"$(printf '%s' {cursor})\"",
        "x=`printf %s {cursor}`; printf %s \"$x\"",
        "# it's a comment\nprintf %s {cursor}",
        // a here-document (an apostrophe in its body opens nothing), an escaped space before '#', $'…'
        "cat <<EOF >/dev/null\nit's {cursor}\nEOF\nprintf %s \"{cursor}\"", "cat <<EOF | tr -d '\\n'\n{cursor}\nEOF",
        "y=\\ #\"{cursor}\"; printf %s \"${y#??}\""
    ])
    func placeholdersAreDataInARealShell(command: String) throws {
        for hostile in ["x'; touch /tmp/octo-pwned-$$ #", "a\"b$(id)`id`\\", "  two  spaces  ", "$OCTO_CURSOR"] {
            let r = try ChildProcess.run([
                "env", "OCTO_CURSOR=" + hostile, "/bin/sh", "-c", CommandTemplate.substitute(command)
            ])
            #expect(r.status == 0)
            #expect(String(decoding: r.stdout, as: UTF8.self) == hostile, "\(command) with \(hostile)")
        }
    }

    @Test func linesAreSplitCutAndCleaned() {
        var s = LineSplitter()
        let long = [UInt8](repeating: 65, count: LogText.maxBytes + 10)
        let input: [UInt8] = Array("one\r\ntw".utf8) + [0, 0xff] + Array("o\n".utf8) + long + [10] + Array("tail".utf8)
        let lines = input.withUnsafeBytes { s.feed($0) }
        #expect(lines.count == 3)
        #expect(lines[0].text == "one" && !lines[0].truncated)
        #expect(lines[1].text == "tw\u{FFFD}o")  // NUL removed, invalid byte replaced
        #expect(lines[2].truncated && lines[2].text.utf8.count == LogText.maxBytes)
        #expect(s.finish()?.text == "tail")

        // a line of exactly the limit is whole; one byte more is cut, and never inside a character
        let exact = [UInt8](repeating: 66, count: LogText.maxBytes)
        let accented = Array(("A" + String(repeating: "é", count: LogText.maxBytes / 2)).utf8)
        let more = (exact + [10] + accented + [10]).withUnsafeBytes { s.feed($0) }
        #expect(more.count == 2)
        #expect(more[0].text.utf8.count == LogText.maxBytes && !more[0].truncated)
        #expect(more[1].truncated && more[1].text.utf8.count == LogText.maxBytes - 1)
        #expect(more[1].text.hasSuffix("éé") && !more[1].text.contains("\u{FFFD}"))
        #expect(LineSplitter.wholeCharacters(Array("a🐙".utf8).dropLast(1).map { $0 }) == 1)
        #expect(LineSplitter.wholeCharacters(Array("a🐙".utf8)) == 5)
        #expect(LineSplitter.wholeCharacters([0xff, 0x80]) == 2, "invalid bytes are kept (shown as U+FFFD)")
        // a CRLF line of exactly the limit is whole too (its CR is dropped); one more byte before the CR is cut
        let crlf = (exact + [13, 10] + exact + [66, 13, 10]).withUnsafeBytes { s.feed($0) }
        #expect(crlf.count == 2)
        #expect(!crlf[0].truncated && crlf[0].text.utf8.count == LogText.maxBytes)
        #expect(crlf[1].truncated && crlf[1].text.utf8.count == LogText.maxBytes && !crlf[1].text.contains("\r"))
    }
}
