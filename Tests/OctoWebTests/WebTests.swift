import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MariaDB
import NIOCore
import OctoCore
import OctoTime
import OctoWeb
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The dashboard's routes against a real database (HummingbirdTesting's router client: no socket, every
/// handler and the middleware as in production): pages, roles, CSRF, logins and their rate limit, sessions,
/// actions and their audit rows, escaping, the live log stream, /api and /metrics.
@Suite(.database, .bounded)
struct WebTests {
    /// A fresh initialised database, accounts `alice` (operator), `vic` (viewer) and `ada` (admin), and the
    /// dashboard's test client.
    static func withWeb(
        _ body: @escaping @Sendable (FreshDatabase, Connection, any TestClientProtocol) async throws -> Void
    ) async throws {
        try await withInit { fresh, db in
            for (name, role) in [("alice", Role.operator), ("vic", .viewer), ("ada", .admin)] {
                try AccountStore.add(db, name, role: role, password: "pw-\(name)-123", by: "test")
            }
            let config = try fresh.config()
            let pool = DatabasePool(size: 2) { try config.connect() }
            defer { pool.close() }
            let web = try await WebApp(
                pool: pool, assets: try WebAssets.locate(environment: [:]), pollInterval: .milliseconds(20))
            let app = Application(router: web.router())
            let shared = Unchecked(db)  // the test's own connection, used by the test body alone
            try await app.test(.router) { client in try await body(fresh, shared.value, client) }
        }
    }

    /// A logged-in browser: its cookie header and the CSRF token its pages carry.
    struct Browser: Sendable {
        var cookie: String
        var csrf: String
        var headers: HTTPFields { [.cookie: cookie] }
        var formHeaders: HTTPFields { [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"] }
    }

    static let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    /// The login form as a browser gets it: its cookie header and the token the form carries.
    static func loginForm(_ client: any TestClientProtocol) async throws -> (headers: HTTPFields, csrf: String) {
        let page = try await client.execute(uri: "/login", method: .get)
        let setCookie = try #require(page.headers[.setCookie])
        #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"), "\(setCookie)")
        let token = try #require(csrf(in: String(buffer: page.body)))
        return (
            [.cookie: String(setCookie.split(separator: ";")[0]), .contentType: "application/x-www-form-urlencoded"],
            token
        )
    }

    static func login(_ client: any TestClientProtocol, _ name: String, _ password: String? = nil) async throws
        -> Browser
    {
        let (headers, token) = try await loginForm(client)
        let r = try await client.execute(
            uri: "/login", method: .post, headers: headers,
            body: ByteBuffer(
                string: "name=\(name)&password=\(Forms.encode(password ?? "pw-\(name)-123"))&next=%2F&csrf=\(token)"))
        #expect(r.status == .seeOther, "login of \(name): \(r.status) \(String(buffer: r.body))")
        let setCookie = try #require(r.headers[.setCookie])
        #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"), "\(setCookie)")
        let cookie = String(setCookie.split(separator: ";")[0])
        let page = try await client.execute(uri: "/", method: .get, headers: [.cookie: cookie])
        return Browser(cookie: cookie, csrf: try #require(csrf(in: String(buffer: page.body))))
    }

    static func csrf(in html: String) -> String? {
        guard let r = html.range(of: "name=\"csrf\" value=\"") else { return nil }
        return String(html[r.upperBound...].prefix(64))
    }

    static func get(_ client: any TestClientProtocol, _ b: Browser, _ uri: String) async throws -> (
        HTTPResponse.Status, String
    ) {
        let r = try await client.execute(uri: uri, method: .get, headers: b.headers)
        return (r.status, String(buffer: r.body))
    }

    static func post(
        _ client: any TestClientProtocol, _ b: Browser, _ uri: String, _ body: String = "", csrf: String? = nil
    )
        async throws -> TestResponse
    {
        let token = csrf ?? b.csrf
        let text = token.isEmpty ? body : "csrf=\(token)" + (body.isEmpty ? "" : "&" + body)
        return try await client.execute(uri: uri, method: .post, headers: b.formHeaders, body: ByteBuffer(string: text))
    }

    static func audit(_ db: Connection) throws -> [String] {
        try db.query("SELECT actor, action, COALESCE(job_name, '') AS j FROM audit ORDER BY id").rows.map {
            "\(try $0.decode("actor", as: String.self)) \(try $0.decode("action", as: String.self)) \(try $0.decode("j", as: String.self))"
        }
    }

    static func paused(_ db: Connection, _ job: String) throws -> Bool {
        try db.query("SELECT paused FROM jobs WHERE name = ?", [.text(job)]).first!.decode("paused")
    }

    @Test func withoutASessionPagesGoToTheLoginAndTheAPIRefuses() async throws {
        try await Self.withWeb { _, _, client in
            for uri in ["/", "/jobs/x", "/runs/1", "/audit", "/machines", "/alerts"] {
                let r = try await client.execute(uri: uri, method: .get)
                #expect(r.status == .seeOther, "\(uri)")
                #expect(r.headers[.location] == "/login?next=" + Forms.encode(uri), "\(uri)")
                #expect(r.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
                #expect(r.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
                #expect(r.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            }
            for uri in ["/api/jobs", "/api/jobs/x/runs", "/runs/1/events"] {
                #expect(try await client.execute(uri: uri, method: .get).status == .unauthorized, "\(uri)")
            }
            let login = try await client.execute(uri: "/login?next=%2Fjobs%2Fa", method: .get)
            #expect(login.status == .ok)
            #expect(String(buffer: login.body).contains("name=\"next\" value=\"/jobs/a\""))
            // a next that leaves the site is replaced by / (a browser drops the tab of `/\t/evil.example`)
            for next in [
                "%2F%2Fevil.example", "%2F%09%2Fevil.example", "%2F%5Cevil.example", "https%3A%2F%2Fevil.example"
            ] {
                let away = try await client.execute(uri: "/login?next=\(next)", method: .get)
                #expect(String(buffer: away.body).contains("name=\"next\" value=\"/\""), "\(next)")
            }
        }
    }

    @Test func everyPageShowsWhatItIsAbout() async throws {
        try await Self.withWeb { fresh, db, client in
            try addJob(db, "extract", "echo extracted", ["schedule": "0 3 * * *", "owner": "etl"])
            try addJob(db, "load", "echo loaded", ["needs": "extract"])
            try await register(fresh, "w1")
            let ran = try await octo(fresh, ["sh", "run", "extract", "--here", "--wait", "--machine", "w1"])
            #expect(ran.status == 0, "\(ran.stderr)")
            let run = try #require(try runs(db, "extract").first)
            let b = try await Self.login(client, "vic")

            let (s1, overview) = try await Self.get(client, b, "/")
            #expect(s1 == .ok)
            #expect(overview.contains("<a href=\"/jobs/extract\">extract</a>") && overview.contains("/jobs/load"))
            #expect(overview.contains("<svg class=\"spark\""), "a sparkline for the job that ran")
            #expect(overview.contains("vic (viewer)"))
            let (_, filtered) = try await Self.get(client, b, "/?owner=etl")
            #expect(filtered.contains("/jobs/extract") && !filtered.contains("/jobs/load"))

            let (s2, job) = try await Self.get(client, b, "/jobs/extract")
            #expect(s2 == .ok)
            #expect(job.contains("<svg class=\"trend\"") && job.contains("href=\"/runs/\(run.id)\""))
            #expect(job.contains("data-state=\"succeeded\""))
            #expect(!job.contains("action=\"/jobs/extract/pause\""), "a viewer is offered no actions")
            let (_, zoomed) = try await Self.get(client, b, "/jobs/extract?range=1h")
            #expect(zoomed.contains("class=\"current\" aria-current=\"true\">1h<"))
            let (_, loadPage) = try await Self.get(client, b, "/jobs/load")
            #expect(loadPage.contains("<a href=\"/jobs/extract\">extract</a>"), "its needs")
            let (s404, missing) = try await Self.get(client, b, "/jobs/nosuch")
            #expect(s404 == .notFound && missing.contains("nosuch"))

            let (s3, runPage) = try await Self.get(client, b, "/runs/\(run.id)")
            #expect(s3 == .ok)
            #expect(
                runPage.contains("extracted") && runPage.contains("succeeded") && runPage.contains("The run has ended.")
            )
            #expect(runPage.contains("<script src=\"/static/live.js\"></script>"))

            let (_, audit) = try await Self.get(client, b, "/audit")
            #expect(audit.contains("add") && audit.contains("extract"))
            let (_, machines) = try await Self.get(client, b, "/machines")
            #expect(machines.contains("<td>w1</td>"))
            let (s4, _) = try await Self.get(client, b, "/alerts")
            #expect(s4 == .ok)

            let (s5, api) = try await Self.get(client, b, "/api/jobs")
            #expect(s5 == .ok)
            guard case .array(let jobs) = JSON.parse(api) else {
                Issue.record("not an array: \(api)")
                return
            }
            #expect(jobs.count == 2)
            #expect(
                jobs.first
                    == (try JobStore.summaries(db).first?.json(defaultZone: SettingsStore.load(db).defaultTimezone)),
                "the CLI's shape")
            let (_, apiRuns) = try await Self.get(client, b, "/api/jobs/extract/runs")
            #expect(apiRuns.contains("\"id\":\(run.id)") && apiRuns.contains("\"state\":\"succeeded\""))

            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(metrics.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(String(buffer: metrics.body).contains("octo_job_runs_total{job=\"extract\",state=\"succeeded\"} 1"))
            let css = try await client.execute(uri: "/static/style.css", method: .get)
            #expect(css.status == .ok && css.headers[.contentType] == "text/css; charset=utf-8")
        }
    }

    @Test func theGraphAndTheLogSearchShowWhatTheyFind() async throws {
        try await Self.withWeb { fresh, db, client in
            try addJob(db, "extract", "echo 'rows: 10'", ["schedule": "0 3 * * *"])
            try addJob(db, "load", "echo 'loaded <b>10</b>'; echo 'oops' >&2", ["needs": "extract"])
            try addJob(db, "alone", "true", [:])
            try await register(fresh, "w1")
            let date = "2026-12-01"
            let queued = try await octo(fresh, ["sh", "run", "extract", "--date", date])
            #expect(queued.status == 0, "\(queued.stderr)")
            _ = try await octo(fresh, ["consume", "--machine", "w1", "--wait"])
            let b = try await Self.login(client, "vic")
            let (s1, graph) = try await Self.get(client, b, "/graph?date=\(date)")
            #expect(s1 == .ok)
            let extractRun = try #require(try runs(db, "extract").first)
            #expect(graph.contains("<td class=\"depth-0\"><a href=\"/jobs/extract\">extract</a>"))
            #expect(graph.contains("<td class=\"depth-1\"><a href=\"/jobs/load\">load</a>"))
            #expect(graph.contains("href=\"/runs/\(extractRun.id)\""))
            #expect(graph.contains("1 succeeded"))
            #expect(!graph.contains("/jobs/alone"), "a job with no needs and none needing it is not in the graph")
            let (s2, bad) = try await Self.get(client, b, "/graph?date=2026-02-30")
            #expect(s2 == .badRequest && bad.contains("invalid date &#39;2026-02-30&#39;"))
            let (s3, _) = try await Self.get(client, b, "/graph?job=nosuch")
            #expect(s3 == .notFound)

            let (s4, logs) = try await Self.get(client, b, "/logs?job=extract&since=1h")
            #expect(s4 == .ok)
            #expect(logs.contains("rows: 10") && logs.contains("href=\"/runs/\(extractRun.id)\""))
            let (_, grep) = try await Self.get(client, b, "/logs?grep=nothing-like-this")
            #expect(grep.contains("<small>0 lines</small>"))
            let (s5, badLevel) = try await Self.get(client, b, "/logs?level=loud")
            #expect(s5 == .badRequest && badLevel.contains("invalid level &#39;loud&#39;"))
        }
    }

    @Test func aFollowedLogSearchStreamsNewMatchingLines() async throws {
        try await Self.withWeb { fresh, db, client in
            try addJob(db, "talker", "echo first; echo second", [:])
            try await register(fresh, "w1")
            let b = try await Self.login(client, "vic")
            let after: Int64 = try db.query("SELECT COALESCE(MAX(id), 0) AS m FROM logs").first!.decode("m")
            #expect(try await octo(fresh, ["sh", "run", "talker", "--here", "--wait", "--machine", "w1"]).status == 0)
            // a followed search goes on until the browser leaves; max=N ends it after N lines (for tests and scripts)
            let r = try await client.execute(
                uri: "/logs/events?job=talker&grep=co&since=1h&after=\(after)&max=1", method: .get, headers: b.headers)
            #expect(r.headers[.contentType] == "text/event-stream")
            let events = String(buffer: r.body).split(separator: "\n").filter { $0.hasPrefix("data: ") }
            #expect(events.count == 1, "\(events)")
            #expect(
                events.first?.contains("\"text\":\"second\"") == true
                    && events.first?.contains("\"job\":\"talker\"") == true)
            // lines stored an hour ago are sent too (a reconnection after a server's restart or a laptop's sleep):
            // the stored lines go as far back as the search, not only the live reader's two minutes
            try db.execute("UPDATE logs SET logged_at = logged_at - INTERVAL 50 MINUTE WHERE job_name = 'talker'")
            let old = try await client.execute(
                uri: "/logs/events?job=talker&grep=co&since=1h&after=\(after)&max=1", method: .get, headers: b.headers)
            let oldEvents = String(buffer: old.body).split(separator: "\n").filter { $0.hasPrefix("data: ") }
            #expect(oldEvents.count == 1 && oldEvents.first?.contains("\"text\":\"second\"") == true, "\(oldEvents)")
            let bad = try await client.execute(uri: "/logs/events?level=loud&max=1", method: .get, headers: b.headers)
            #expect(bad.status == .badRequest)
        }
    }

    /// Fifty browsers following log searches at once while lines come: each gets every line it asked for exactly
    /// once (whether it was stored before its stream began or after), and the database is read once per poll for
    /// all of them — the pool's units of work stay near one per stream plus one per poll, where a reader per
    /// stream would need fifty per poll.
    @Test func fiftyFollowersGetEveryLineOnceFromOneReader() async throws {
        try await withInit { fresh, db in
            try AccountStore.add(db, "vic", role: .viewer, password: "pw-vic-123", by: "test")
            let config = try fresh.config()
            let pool = DatabasePool(size: 4) { try config.connect() }
            defer { pool.close() }
            let interval = 0.05
            let web = try await WebApp(
                pool: pool, assets: try WebAssets.locate(environment: [:]), pollInterval: .seconds(interval))
            let state = TemporaryDirectory()
            defer { _ = try? ChildProcess.run(["rm", "-rf", state.path]) }
            let env = fresh.environment.merging(["OCTO_STATE_DIR": state.path, "OCTO_MACHINE": "w1"]) { $1 }
            let shared = Unchecked(db)  // the test's own connection, used by the test body alone
            try await Application(router: web.router()).test(.router) { client in
                let db = shared.value
                let b = try await Self.login(client, "vic")
                let after: Int64 = try db.query("SELECT COALESCE(MAX(id), 0) AS m FROM logs").first!.decode("m")
                let started = Monotonic.seconds()
                let before = pool.unitsOfWork
                let streams = try await withThrowingTaskGroup(of: (String, [String]).self) { group in
                    for i in 0..<50 {
                        // three filters: the chatty job's lines, those of its first logger (grep), another job's errors
                        let filter = ["job=chatty&max=40", "grep=-0&max=10", "job=quiet&level=error&max=1"][i % 3]
                        group.addTask {
                            let r = try await client.execute(
                                uri: "/logs/events?\(filter)&after=\(after)", method: .get, headers: b.headers)
                            let texts = String(buffer: r.body).split(separator: "\n").filter { $0.hasPrefix("data: ") }
                                .map { String($0) }
                            return (filter, texts)
                        }
                    }
                    // the lines come while the streams start and run: four loggers of ten lines each, then the one
                    // line the quiet job's followers wait for
                    for k in 0..<4 {
                        let input = (0..<10).map { "chat-\(k)\($0)\n" }.joined()
                        let r = try await OctoBinary.run(["logger", "-n", "chatty"], environment: env, input: input)
                        #expect(r.status == 0, "\(r.stderr)")
                    }
                    let quiet = try await OctoBinary.run(
                        ["logger", "-n", "quiet", "-l", "error"], environment: env, input: "the end\n")
                    #expect(quiet.status == 0, "\(quiet.stderr)")
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let elapsed = Monotonic.seconds() - started
                let all = (0..<4).flatMap { k in (0..<10).map { "chat-\(k)\($0)" } }
                for (filter, events) in streams {
                    let texts = events.compactMap { e in
                        e.split(separator: "\"text\":\"").last.map { String($0.prefix { $0 != "\"" }) }
                    }
                    let expected =
                        filter.hasPrefix("job=chatty")
                        ? all : filter.hasPrefix("grep") ? Array(all.prefix(10)) : ["the end"]
                    #expect(texts.sorted() == expected, "\(filter): \(texts)")
                }
                // one login check and one first read per stream, the reader's start, one unit per poll, a few spare
                let used = pool.unitsOfWork - before
                let bound = 2 * 50 + 5 + Int(elapsed / interval) + 1
                #expect(used <= bound, "\(used) units of work in \(elapsed) s for 50 streams (bound \(bound))")
            }
        }
    }

    @Test func aViewersPostIsRefusedAndChangesNothing() async throws {
        try await Self.withWeb { _, db, client in
            try addJob(db, "a", "true", ["schedule": "@every 1h"])
            let before = try Self.audit(db)
            let b = try await Self.login(client, "vic")
            for uri in ["/jobs/a/pause", "/jobs/a/run", "/jobs/a/resume"] {
                let r = try await Self.post(client, b, uri)
                #expect(r.status == .forbidden, "\(uri)")
                #expect(String(buffer: r.body).contains("vic is a viewer"))
            }
            #expect(try !Self.paused(db, "a"))
            #expect(try runs(db, "a").isEmpty)
            #expect(try Self.audit(db) == before)
        }
    }

    @Test func aPostWithoutItsCSRFTokenIsRefused() async throws {
        try await Self.withWeb { _, db, client in
            try addJob(db, "a", "true", ["schedule": "@every 1h"])
            let b = try await Self.login(client, "alice")
            let other = try await Self.login(client, "ada")
            for token in ["", String(repeating: "0", count: 64), other.csrf] {
                let r = try await Self.post(client, b, "/jobs/a/pause", csrf: token)
                #expect(r.status == .forbidden, "token '\(token)'")
                #expect(String(buffer: r.body).contains("CSRF"))
            }
            #expect(try !Self.paused(db, "a"))
            let out = try await Self.post(client, b, "/logout", csrf: "")
            #expect(out.status == .forbidden)
        }
    }

    @Test func anOperatorsActionsHappenAndAreAuditedAsTheWebUser() async throws {
        try await Self.withWeb { _, db, client in
            try addJob(db, "a", "sleep 60", ["schedule": "@every 1h"])
            let b = try await Self.login(client, "alice")
            let paused = try await Self.post(client, b, "/jobs/a/pause")
            #expect(paused.status == .seeOther && paused.headers[.location] == "/jobs/a")
            #expect(try Self.paused(db, "a"))
            let (_, page) = try await Self.get(client, b, "/jobs/a")
            #expect(page.contains("action=\"/jobs/a/resume\"") && page.contains("paused"))
            #expect(try await Self.post(client, b, "/jobs/a/resume").status == .seeOther)
            #expect(try !Self.paused(db, "a"))

            let ran = try await Self.post(client, b, "/jobs/a/run")
            let run = try #require(try runs(db, "a").last)
            #expect(ran.status == .seeOther && ran.headers[.location] == "/runs/\(run.id)")
            #expect(run.trigger == .manual && run.state == .queued)
            // forbid: a second run while this one is queued is refused with the CLI's message
            let again = try await Self.post(client, b, "/jobs/a/run")
            #expect(again.status == .conflict)
            #expect(String(buffer: again.body).contains("concurrency forbid"))
            #expect(try runs(db, "a").count == 1)
            let badDate = try await Self.post(client, b, "/jobs/a/run", "date=2026-13-01")
            #expect(
                badDate.status == .badRequest
                    && String(buffer: badDate.body).contains("invalid date &#39;2026-13-01&#39;"))
            // pass a date of a scheduled job: its fire that day becomes a passed run (as sh pass --date)
            try addJob(db, "daily", "true", ["schedule": "0 3 * * *", "timezone": "UTC"])
            let passed = try await Self.post(client, b, "/jobs/daily/pass", "date=2026-11-30")
            #expect(passed.status == .seeOther, "\(String(buffer: passed.body))")
            let passedRuns = try runs(db, "daily")
            #expect(
                passedRuns.map(\.state) == [.passed]
                    && passedRuns.first?.fireTime.iso8601 == "2026-11-30T03:00:00.000000Z")
            let noDate = try await Self.post(client, b, "/jobs/daily/pass", "date=")
            #expect(noDate.status == .badRequest)
            let killed = try await Self.post(client, b, "/runs/\(run.id)/kill")
            #expect(killed.status == .seeOther)
            #expect(try RunQueue.get(db, run.id)?.state == .cancelled)

            #expect(
                try Self.audit(db).filter { $0.hasPrefix("web:") }
                    == [
                        "web:alice pause a", "web:alice resume a", "web:alice run a", "web:alice pass daily",
                        "web:alice kill a"
                    ])
        }
    }

    @Test func jobsAreAddedAndEditedWithTheCLIsChecksAndMessages() async throws {
        try await Self.withWeb { _, db, client in
            try addJob(db, "load", "true", [:])
            let b = try await Self.login(client, "alice")
            let (s0, form) = try await Self.get(client, b, "/add")
            #expect(
                s0 == .ok && form.contains("name=\"schedule\"") && form.contains("value=\"alice\""), "owner: the user")
            let before = try Self.audit(db)
            // refused: the CLI's message, the form again with what was typed, nothing stored
            let bad = try await Self.post(client, b, "/add", "name=extract&command=echo+x&schedule=61+*+*+*+*")
            #expect(bad.status == .badRequest)
            let badText = String(buffer: bad.body)
            #expect(badText.contains("invalid schedule &#39;61 * * * *&#39;"), "\(badText)")
            #expect(badText.contains("value=\"extract\"") && badText.contains(">echo x</textarea>"))
            #expect(try JobStore.get(db, "extract") == nil && Self.audit(db) == before)

            let ok = try await Self.post(
                client, b, "/add", "name=extract&command=echo+%3Cx%3E&schedule=0+3+*+*+*&retries=2&owner=etl")
            #expect(ok.status == .seeOther && ok.headers[.location] == "/jobs/extract")
            let added = try #require(try JobStore.get(db, "extract"))
            #expect(
                added.command == "echo <x>" && added.schedule == "0 3 * * *" && added.retries == 2
                    && added.owner == "etl")

            let (_, edit) = try await Self.get(client, b, "/jobs/extract/edit")
            #expect(edit.contains(">echo &lt;x&gt;</textarea>") && edit.contains("value=\"0 3 * * *\""))
            // an edit that closes a cycle is refused with the CLI's message naming it
            _ = try await Self.post(
                client, b, "/jobs/load/edit", Self.fields(try JobStore.get(db, "load")!, ["needs": "extract"]))
            let cycle = try await Self.post(
                client, b, "/jobs/extract/edit", Self.fields(added, ["needs": "load"]))
            #expect(cycle.status == .badRequest)
            #expect(String(buffer: cycle.body).contains("extract → load → extract"), "\(String(buffer: cycle.body))")
            let changed = try await Self.post(client, b, "/jobs/extract/edit", Self.fields(added, ["timeout": "1h"]))
            #expect(changed.status == .seeOther)
            #expect(try JobStore.get(db, "extract")?.timeout == 3600 && JobStore.get(db, "extract")?.needs == [])
            #expect(
                try Self.audit(db).filter { $0.hasPrefix("web:") }
                    == ["web:alice add extract", "web:alice edit load", "web:alice edit extract"])
            // a textarea's line breaks come as CRLF (as every browser sends them): stored as LF, so an edit of
            // another field leaves a multi-line command as it was
            let lines = try await Self.post(
                client, b, "/add", "name=multi&command=cd+%2Ftmp%0D%0Atrue%0D%0Aecho+done&owner=etl")
            #expect(lines.status == .seeOther)
            let multi = try #require(try JobStore.get(db, "multi"))
            #expect(multi.command == "cd /tmp\ntrue\necho done", "\(multi.command.debugDescription)")
            let crlf = Self.fields(multi, ["command": "cd /tmp\r\ntrue\r\necho done", "retries": "1"])
            #expect(try await Self.post(client, b, "/jobs/multi/edit", crlf).status == .seeOther)
            let edited = try #require(try JobStore.get(db, "multi"))
            #expect(edited.command == multi.command && edited.retries == 1, "\(edited.command.debugDescription)")
            let lastEdit: String = try db.query("SELECT changes FROM audit ORDER BY id DESC LIMIT 1").first!.decode(
                "changes")
            #expect(!lastEdit.contains("command"), "\(lastEdit)")
            // a long command (64 KiB less a little, percent-encoded to three times that) is taken by the form too
            let long = String(repeating: "#", count: 60_000)
            let big = try await Self.post(
                client, b, "/jobs/multi/edit", Self.fields(edited, ["command": "true " + long]))
            #expect(big.status == .seeOther)
            #expect(try JobStore.get(db, "multi")?.command.count == 60_005)
            // the overview's filter by last state takes paused jobs by their last state too
            try addJob(db, "resting", "true", ["paused": "true"])
            let (_, never) = try await Self.get(client, b, "/?state=never")
            #expect(never.contains("/jobs/resting"), "\(never)")
            let v = try await Self.login(client, "vic")
            #expect(try await Self.get(client, v, "/add").0 == .forbidden)
            #expect(try await Self.post(client, v, "/add", "name=x&command=true").status == .forbidden)
        }
    }

    @Test func adminsManageAccountsAndOthersCannot() async throws {
        try await Self.withWeb { _, db, client in
            let op = try await Self.login(client, "alice")
            #expect(try await Self.get(client, op, "/users").0 == .forbidden)
            #expect(
                try await Self.post(client, op, "/users", "name=x&role=admin&password=long-enough").status == .forbidden
            )
            let (_, opPage) = try await Self.get(client, op, "/")
            #expect(!opPage.contains("href=\"/users\""), "no Accounts link for an operator")
            let before = try AccountStore.list(db).map(\.account.name)

            let admin = try await Self.login(client, "ada")
            let (s0, page) = try await Self.get(client, admin, "/users")
            #expect(s0 == .ok && page.contains("<td>vic</td><td>viewer</td>"))
            let bad = try await Self.post(client, admin, "/users", "name=bad+name&role=viewer&password=long-enough")
            #expect(
                bad.status == .badRequest && String(buffer: bad.body).contains("invalid user name &#39;bad name&#39;"))
            let short = try await Self.post(client, admin, "/users", "name=newbie&role=viewer&password=short")
            #expect(short.status == .badRequest && String(buffer: short.body).contains("too short"))
            #expect(try AccountStore.list(db).map(\.account.name) == before)

            #expect(
                try await Self.post(client, admin, "/users", "name=newbie&role=operator&password=first-pass").status
                    == .seeOther)
            let newbie = try await Self.login(client, "newbie", "first-pass")
            #expect(try await Self.get(client, newbie, "/").0 == .ok)
            #expect(
                try await Self.post(client, admin, "/users/newbie/passwd", "password=second-pass").status == .seeOther)
            #expect(try await Self.get(client, newbie, "/").0 == .seeOther, "a new password ends the sessions")
            _ = try await Self.login(client, "newbie", "second-pass")
            #expect(try await Self.post(client, admin, "/users/newbie/rm").status == .seeOther)
            #expect(try await Self.post(client, admin, "/users/ada/rm").status == .badRequest, "not one's own")
            #expect(try AccountStore.list(db).map(\.account.name) == before)
            let actions = try db.query("SELECT actor, action FROM audit WHERE subject = 'user newbie' ORDER BY id").rows
                .map {
                    "\(try $0.decode("actor", as: String.self)) \(try $0.decode("action", as: String.self))"
                }
            #expect(actions == ["web:ada user add", "web:ada user passwd", "web:ada user rm"])
        }
    }

    /// A form's body with every attribute of `job` as it is, and `changes`.
    static func fields(_ job: Job, _ changes: [String: String]) -> String {
        Job.attributes.filter { $0.name != "paused" }.map { a in
            "\(a.name)=\(Forms.encode(changes[a.name] ?? a.get(job)))"
        }.joined(separator: "&")
    }

    @Test func aWrongPasswordIsRefusedAndRepeatedFailuresAreRateLimited() async throws {
        try await Self.withWeb { _, db, client in
            let (headers, token) = try await Self.loginForm(client)
            func attempt(_ name: String, _ password: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/login", method: .post, headers: headers,
                    body: ByteBuffer(string: "name=\(name)&password=\(password)&csrf=\(token)"))
            }
            func session(_ r: TestResponse) -> Bool {
                r.headers[values: .setCookie].contains { $0.hasPrefix("octo_session=") }
            }
            func failures() throws -> Int {
                try db.query("SELECT COUNT(*) AS n FROM login_failures").first!.decode("n")
            }
            // a login without the form's token (posted from another site: login CSRF), or with another one, is
            // refused before the password is looked at: no session, no failure counted
            for (h, body) in [
                (Self.form, "name=alice&password=pw-alice-123"), (headers, "name=alice&password=pw-alice-123"),
                (headers, "name=alice&password=pw-alice-123&csrf=\(String(repeating: "0", count: 64))"),
                (Self.form, "name=alice&password=pw-alice-123&csrf=\(token)")
            ] {
                let r = try await client.execute(
                    uri: "/login", method: .post, headers: h, body: ByteBuffer(string: body))
                #expect(r.status == .forbidden && !session(r), "\(body): \(r.status)")
                #expect(String(buffer: r.body).contains("the login form's token is missing or wrong"))
            }
            #expect(try failures() == 0)
            let wrong = try await attempt("alice", "nope")
            #expect(wrong.status == .unauthorized && !session(wrong))
            #expect(try failures() == 1)
            #expect(String(buffer: wrong.body).contains("wrong name or password"))
            #expect(try await attempt("nobody", "nope").status == .unauthorized)
            for _ in 2...AccountStore.failureLimit { _ = try await attempt("alice", "nope") }
            // now even the right password is refused for a while, with Retry-After
            let limited = try await attempt("alice", "pw-alice-123")
            #expect(limited.status == .tooManyRequests)
            #expect(!session(limited))
            let wait = Int(limited.headers[.retryAfter] ?? "") ?? 0
            #expect(wait > 0 && wait <= AccountStore.failureWindow)
            #expect(String(buffer: limited.body).contains("too many failed logins"))
            // another name is not affected; the limit lifts when the failures age out of the window
            #expect(try await attempt("vic", "pw-vic-123").status == .seeOther)
            try db.execute("UPDATE login_failures SET at = at - INTERVAL 1 HOUR")
            #expect(try await attempt("alice", "pw-alice-123").status == .seeOther)
            // guesses sent at once are counted one by one: of 30, only the limit's worth have their password
            // checked (before, each counted the failures already written and 24 of 30 were checked). (+ 2: an
            // attempt counts the failures committed when it counts; the test's pool has two connections, and
            // another's row may have its id and not yet be committed.)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<30 { group.addTask { try await attempt("mallory", "guess").status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let checked = statuses.filter { $0 == .unauthorized }.count
            #expect(checked >= 1 && checked <= AccountStore.failureLimit + 2, "\(statuses)")
            #expect(checked + statuses.filter { $0 == .tooManyRequests }.count == 30, "\(statuses)")
        }
    }

    @Test func anExpiredSessionAndALoggedOutOneAreRefused() async throws {
        try await Self.withWeb { _, db, client in
            let b = try await Self.login(client, "alice")
            try db.execute("UPDATE web_sessions SET expires_at = NOW(6) - INTERVAL 1 SECOND")
            let expired = try await client.execute(uri: "/", method: .get, headers: b.headers)
            #expect(expired.status == .seeOther && expired.headers[.location] == "/login?next=%2F")

            let c = try await Self.login(client, "alice")
            let out = try await Self.post(client, c, "/logout")
            #expect(out.status == .seeOther && out.headers[.location] == "/login")
            #expect(out.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await client.execute(uri: "/", method: .get, headers: c.headers).status == .seeOther)
            let left: Int = try db.query("SELECT COUNT(*) AS n FROM web_sessions WHERE expires_at > NOW(6)").first!
                .decode("n")
            #expect(left == 0)
            // only the hash of a token is stored
            let d = try await Self.login(client, "ada")
            let token = String(d.cookie.split(separator: "=")[1])
            let stored: Int = try db.query(
                "SELECT COUNT(*) AS n FROM web_sessions WHERE token_hash = ? OR csrf = ?", [.text(token), .text(token)]
            ).first!.decode("n")
            #expect(stored == 0)
        }
    }

    @Test func whatUsersWroteIsShownAsTextOnEveryPage() async throws {
        try await Self.withWeb { fresh, db, client in
            let script = "<script>alert(1)</script>"
            let img = "<img src=x onerror=alert(1)>"
            // a prepended sign or a combining mark makes one character of `<` or `"` with its neighbour: still escaped
            let joined = "\u{600}<b id=x>bold\u{600}</b> \"\u{301} onmouseover=alert(1)"
            try addJob(db, "xss", script, ["schedule": "@every 1h"])
            try addJob(db, "joined", joined, ["schedule": "@every 1h"])
            try addJob(db, "printer", "echo '\(img)'", [:])
            try await register(fresh, "w1")
            let ran = try await octo(fresh, ["sh", "run", "printer", "--here", "--wait", "--machine", "w1"])
            #expect(ran.status == 0, "\(ran.stderr)")
            let run = try #require(try runs(db, "printer").first)
            let b = try await Self.login(client, "alice")
            var pages: [String: String] = [:]
            for uri in ["/", "/jobs/xss", "/jobs/printer", "/runs/\(run.id)", "/audit", "/audit?job=xss"] {
                let (status, body) = try await Self.get(client, b, uri)
                #expect(status == .ok, "\(uri)")
                pages[uri] = body
                #expect(!body.contains(script) && !body.contains(img), "\(uri) shows markup from a user")
            }
            #expect(pages["/jobs/xss"]!.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            let (_, joinedPage) = try await Self.get(client, b, "/jobs/joined")
            #expect(!joinedPage.contains("<b id=x>") && !joinedPage.contains("\"\u{301} onmouseover"))
            #expect(
                joinedPage.contains("\u{600}&lt;b id=x&gt;bold\u{600}&lt;/b&gt; &quot;\u{301} onmouseover=alert(1)"))
            let (_, overviewPage) = try await Self.get(client, b, "/?q=%22%CC%81+onmouseover%3Dalert(1)")
            #expect(overviewPage.contains("value=\"&quot;\u{301} onmouseover=alert(1)\""), "the filter box, reflected")
            let (huge, _) = try await Self.get(client, b, "/?page=9223372036854775807")
            #expect(huge == .ok, "a page number past the end is the last page's neighbour, not a crash")
            #expect(pages["/audit?job=xss"]!.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(pages["/runs/\(run.id)"]!.contains("&lt;img src=x onerror=alert(1)&gt;"))
            #expect(pages["/jobs/printer"]!.contains("echo &#39;&lt;img src=x onerror=alert(1)&gt;&#39;"))
        }
    }

    @Test func theLiveStreamSendsEveryLineOnceThenTheEnd() async throws {
        try await Self.withWeb { fresh, db, client in
            try addJob(db, "counter", "for i in 1 2 3; do echo line $i; done", [:])
            try await register(fresh, "w1")
            #expect(try await octo(fresh, ["sh", "run", "counter", "--here", "--wait", "--machine", "w1"]).status == 0)
            let run = try #require(try runs(db, "counter").first)
            let b = try await Self.login(client, "vic")
            let ids = try db.query("SELECT id FROM logs WHERE run_id = ? ORDER BY id", [.int(run.id)]).rows.map {
                try $0.decode("id", as: Int64.self)
            }
            let r = try await client.execute(
                uri: "/runs/\(run.id)/events?after=\(ids[1])", method: .get, headers: b.headers)
            #expect(r.headers[.contentType] == "text/event-stream")
            let text = String(buffer: r.body)
            let sent = text.split(separator: "\n").filter { $0.hasPrefix("id: ") }.map { Int64($0.dropFirst(4))! }
            #expect(sent == Array(ids.dropFirst(2)), "\(text)")
            #expect(text.contains("\"text\":\"line 3\""))
            #expect(text.hasSuffix("event: end\ndata: {\"state\":\"succeeded\"}\n\n"))
            // Last-Event-ID (a reconnecting browser) wins over the query
            var headers = b.headers
            headers[HTTPField.Name("Last-Event-ID")!] = String(ids[ids.count - 2])
            let resumed = try await client.execute(
                uri: "/runs/\(run.id)/events?after=0", method: .get, headers: headers)
            let resent = String(buffer: resumed.body).split(separator: "\n").filter { $0.hasPrefix("id: ") }
            #expect(resent == ["id: \(ids.last!)"])
        }
    }
}

final class Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// The pieces that need no database.
struct WebUnitTests {
    @Test func formsDecodeAndEncode() {
        #expect(Forms.parse("a=1&b=x+y&c=%3Cb%3E&d=&e") == ["a": "1", "b": "x y", "c": "<b>", "d": "", "e": ""])
        #expect(Forms.parse("n=%E2%9C%93&bad=%zz%4") == ["n": "✓", "bad": "%zz%4"])
        #expect(Forms.encode("/jobs/a b?x=1&y") == "%2Fjobs%2Fa%20b%3Fx%3D1%26y")
    }

    @Test func passwordHashesAreSaltedAndCheckedExactly() throws {
        let h = try PasswordHash.make("correct horse")
        #expect(h.hasPrefix("scrypt$32768$8$1$"))
        #expect(PasswordHash.verify("correct horse", h))
        #expect(!PasswordHash.verify("correct horsf", h))
        #expect(!PasswordHash.verify("", h))
        #expect(try PasswordHash.make("correct horse") != h, "a new salt each time")
        var tampered = Array(h)
        tampered[tampered.count - 3] = tampered[tampered.count - 3] == "A" ? "B" : "A"
        #expect(!PasswordHash.verify("correct horse", String(tampered)))
        #expect(!PasswordHash.verify("correct horse", "scrypt$99999999$8$1$AA==$AA=="))
    }

    @Test func theTrendChartMarksEachRunByOutcome() {
        let t0 = Instant(secondsSinceEpoch: 1_800_000_000)
        func run(_ id: Int64, _ start: Int64, _ seconds: Int64, _ state: Run.State) -> Charts.Mark {
            Charts.Mark(at: t0 + .seconds(start), seconds: Double(seconds), state: state, runID: id)
        }
        let marks = [
            run(1, 0, 10, .succeeded), run(2, 60, 40, .failed), run(3, 120, 20, .timeout), run(4, 180, 5, .skipped),
            run(5, 7200, 1, .succeeded)
        ]
        let svg = Charts.trend(marks, from: t0, to: t0 + .seconds(3600), zone: .utc)
        #expect(svg.components(separatedBy: "class=\"mark ").count - 1 == 4, "the run outside the range is left out")
        for (id, cls) in [(1, "ok"), (2, "fail"), (3, "timeout"), (4, "other")] {
            #expect(svg.contains("<a href=\"/runs/\(id)\"><g class=\"mark \(cls)\""), "run \(id)")
        }
        #expect(!svg.contains("/runs/5\""))
        #expect(svg.contains(">50 s</text>"), "the scale's top: 40 s rounded up to 50")
        #expect(svg.contains("<title>median 15 s</title>"), "the median of the runs in the range: 10, 40, 20, 5")
        let spark = Charts.sparkline(marks)
        #expect(spark.components(separatedBy: "<circle").count - 1 == 3, "the failed, timed-out and skipped runs")
        #expect(Charts.sparkline([]) == "")
    }
}

/// `octo sh user …` through the built binaries (octo starts octo-web beside it).
@Suite(.database, .bounded)
struct UserCommandTests {
    static func fingerprint(_ db: Connection) throws -> String {
        try db.query("SELECT name, role, password_hash FROM users ORDER BY name").rows.map {
            "\(try $0.decode("name", as: String.self)) \(try $0.decode("role", as: String.self)) \(try $0.decode("password_hash", as: String.self))"
        }.joined(separator: "\n")
            + "|\(try db.query("SELECT COUNT(*) AS n FROM audit").first!.decode("n", as: Int.self))"
    }

    /// A fresh database with the account vic (password pw-vic-123), a temporary directory, and the environment
    /// for octo with D = that directory.
    static func withVic(
        _ body: (FreshDatabase, [String: String], TemporaryDirectory) async throws -> Void
    ) async throws {
        try await withInit { fresh, db in
            try AccountStore.add(db, "vic", role: .viewer, password: "pw-vic-123", by: "test")
            let dir = TemporaryDirectory()
            defer { _ = try? ChildProcess.run(["rm", "-rf", dir.path]) }
            try await body(fresh, fresh.environment.merging(["D": dir.path]) { $1 }, dir)
        }
    }

    /// A file of `dir`, as text ("" when it is not there).
    static func file(_ dir: TemporaryDirectory, _ name: String) -> String {
        String(decoding: readFileBytes(dir.path + "/" + name) ?? [], as: UTF8.self)
    }

    /// `octo web --listen 127.0.0.1:0 EXTRA` started in the background (stderr in DIR/log, `env` with D = DIR):
    /// its pid and the URL of its line "listening on …", once that line is there.
    static func startServer(_ env: [String: String], _ dir: TemporaryDirectory, _ extra: String = "") async throws
        -> (pid: pid_t, url: String)
    {
        let started = try await Shell.run(
            #""$OCTO" web --listen 127.0.0.1:0 \#(extra) </dev/null >/dev/null 2>"$D/log" & echo $!"#, environment: env)
        let pid = try #require(pid_t(started.stdout.trimmingWhitespace()))
        let said = await Processes.waitUntil(seconds: 120) { file(dir, "log").contains("listening on http") }
        #expect(said, "\(file(dir, "log"))")
        let line = try #require(
            file(dir, "log").split(whereSeparator: \.isNewline).last { $0.contains("listening on") })
        return (pid, String(try #require(line.split(separator: " ").last)))
    }

    /// Logs in as vic/pw-vic-123 with curl (CURL: extra arguments), the cookies in DIR/jar and the login's
    /// response headers in DIR/login.
    static func curlLogin(_ env: [String: String], _ url: String, _ curl: String = "") async throws -> OctoBinary.Result
    {
        try await Shell.run(
            #"""
            token=$(curl -fsS \#(curl) -c "$D/jar" "$U/login" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p')
            curl -fsS \#(curl) -b "$D/jar" -c "$D/jar" -D "$D/login" -o /dev/null \
              -d "name=vic&password=pw-vic-123&csrf=$token" "$U/login"
            """#, environment: env.merging(["U": url]) { $1 })
    }

    /// `octo web` ends on SIGTERM even while a browser follows a log search, a stream that never ends by itself:
    /// on the server's graceful shutdown the live reader ends every stream.
    @Test func aTermEndsTheServerWhileABrowserFollowsALog() async throws {
        try await Self.withVic { fresh, env, dir in
            func file(_ name: String) -> String { Self.file(dir, name) }
            let (pid, url) = try await Self.startServer(env, dir)
            defer { kill(pid, SIGKILL) }
            #expect(url.hasPrefix("http://127.0.0.1:"))
            let login = try await Self.curlLogin(env, url)
            #expect(login.status == 0, "\(login.stderr)")
            _ = try await Shell.run(
                #"( curl -sN -b "$D/jar" "$U/logs/events" > "$D/stream"; echo $? > "$D/curl" ) >/dev/null 2>&1 &"#,
                environment: env.merging(["U": url]) { $1 })
            #expect(
                await Processes.waitUntil(seconds: 120) { file("stream").contains("retry: 1000") }, "\(file("log"))")
            kill(pid, SIGTERM)
            func gone() -> Bool {
                guard let stat = readFileBytes("/proc/\(pid)/stat") else { return true }
                let fields = String(decoding: stat, as: UTF8.self).split(separator: ")").last?.split(separator: " ")
                return fields?.first == "Z"
            }
            #expect(await Processes.waitUntil(seconds: 120) { gone() }, "octo web still runs after SIGTERM")
            #expect(await Processes.waitUntil(seconds: 120) { !file("curl").isEmpty }, "the stream did not end")
        }
    }

    /// `octo web --tls-cert F --tls-key F` serves HTTPS (a certificate made here by openssl, checked by curl against
    /// it) with a Secure session cookie; a plain HTTP request gets no page. Certificates and keys that are missing,
    /// not PEM, not each other's, or one without the other: exit 2, one line naming the value.
    @Test func tlsServesHTTPSAndRefusesBadCertificates() async throws {
        try await Self.withVic { fresh, env, dir in
            func file(_ name: String) -> String { Self.file(dir, name) }
            let made = try await Shell.run(
                #"""
                cd "$D" && for n in one two; do
                  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
                    -addext subjectAltName=IP:127.0.0.1 -keyout $n.key -out $n.pem 2>/dev/null || exit 1
                done; echo not a certificate > junk.pem
                """#, environment: env)
            #expect(made.status == 0, "\(made.stderr)")
            let d = dir.path
            for (args, message) in [
                (["--tls-cert", "\(d)/one.pem"], "--tls-cert and --tls-key go together"),
                (["--tls-cert", "\(d)/none.pem", "--tls-key", "\(d)/one.key"], "invalid --tls-cert '\(d)/none.pem'"),
                (["--tls-cert", "\(d)/junk.pem", "--tls-key", "\(d)/one.key"], "invalid --tls-cert '\(d)/junk.pem'"),
                (["--tls-cert", "\(d)/one.pem", "--tls-key", "\(d)/junk.pem"], "invalid --tls-key '\(d)/junk.pem'"),
                (["--tls-cert", "\(d)/one.pem", "--tls-key", "\(d)/two.key"], "invalid --tls-key '\(d)/two.key'")
            ] {
                let r = try await OctoBinary.run(
                    ["web", "--listen", "127.0.0.1:0"] + args, environment: fresh.environment)
                #expect(r.status == 2, "\(args): \(r.stderr)")
                #expect(
                    r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
            }
            let (pid, url) = try await Self.startServer(env, dir, #"--tls-cert "$D/one.pem" --tls-key "$D/one.key""#)
            defer { kill(pid, SIGKILL) }
            #expect(url.hasPrefix("https://127.0.0.1:"), "\(url)")
            let urls = env.merging(["S": url, "P": "http" + url.dropFirst(5)]) { $1 }
            let page = try await Shell.run(
                #"curl -fsS --cacert "$D/one.pem" -D "$D/headers" "$S/login""#, environment: urls)
            #expect(page.status == 0 && page.stdout.contains("name=\"csrf\""), "\(page.stderr)")
            #expect(file("headers").lowercased().contains("set-cookie: octo_login="))
            #expect(file("headers").contains("; Secure"), "\(file("headers"))")
            let login = try await Self.curlLogin(env, url, #"--cacert "$D/one.pem""#)
            #expect(login.status == 0, "\(login.stderr)")
            let session = file("login").split(whereSeparator: \.isNewline).first {
                $0.lowercased().hasPrefix("set-cookie: octo_session=")
            }
            #expect(session?.contains("; Secure") == true, "\(file("login"))")
            // the other certificate is not this server's: curl refuses; plain HTTP gets no page
            #expect(try await Shell.run(#"curl -fsS --cacert "$D/two.pem" "$S/login""#, environment: urls).status != 0)
            #expect(try await Shell.run(#"curl -fsS -m 60 "$P/login""#, environment: urls).status != 0)
        }
    }

    @Test func accountsAreAddedListedChangedAndRemovedAndBadInputChangesNothing() async throws {
        try await withInit { fresh, db in
            func user(_ args: [String], _ input: String? = nil) async throws -> OctoBinary.Result {
                try await OctoBinary.run(["sh", "user"] + args, environment: fresh.environment, input: input)
            }
            let added = try await user(["add", "ops", "--role", "operator"], "a-long-password\n")
            #expect(added.status == 0, "\(added.stderr)")
            #expect(added.stdout == "user ops added (operator)\n")
            let before = try Self.fingerprint(db)
            for (args, input, message) in [
                (["add", "bad name", "--role", "admin"], "a-long-password\n", "invalid user name 'bad name'"),
                (["add", "x", "--role", "boss"], "a-long-password\n", "invalid role 'boss'"),
                (["add", "ops", "--role", "viewer"], "a-long-password\n", "a user named 'ops' already exists"),
                (["add", "y", "--role", "viewer"], "short\n", "the password is too short"),
                (["add", "y", "--role", "viewer"], "", "no password on stdin"),
                (["rm", "nobody"], nil, "no user named 'nobody'"),
                (["passwd", "nobody"], "a-long-password\n", "no user named 'nobody'")
            ] as [([String], String?, String)] {
                let r = try await user(args, input)
                #expect(r.status == 2, "\(args): \(r.stderr)")
                #expect(r.stderr.hasPrefix("octo: ") && r.stderr.contains(message), "\(args): \(r.stderr)")
                #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
            }
            #expect(try Self.fingerprint(db) == before, "refusals changed nothing")
            #expect(!before.contains("a-long-password"), "only the hash is stored")

            let ls = try await user(["ls", "--json"])
            guard case .array(let rows) = JSON.parse(ls.stdout), case .object(let o) = rows.first else {
                Issue.record("ls --json: \(ls.stdout)")
                return
            }
            #expect(rows.count == 1 && o["name"] == .string("ops") && o["role"] == .string("operator"))

            // a new password ends the account's sessions
            guard case .ok(let token, _, _) = try AccountStore.login(db, "ops", password: "a-long-password") else {
                Issue.record("login failed")
                return
            }
            #expect(try AccountStore.session(db, token: token) != nil)
            #expect(try await user(["passwd", "ops"], "another-password\n").status == 0)
            #expect(try AccountStore.session(db, token: token) == nil)
            #expect(try AccountStore.login(db, "ops", password: "a-long-password") == .wrong)
            #expect(try await user(["rm", "ops"]).status == 0)
            #expect(try AccountStore.list(db).isEmpty)
            let actions = try db.query("SELECT action, subject FROM audit WHERE subject LIKE 'user %' ORDER BY id").rows
                .map {
                    "\(try $0.decode("action", as: String.self)) \(try $0.decode("subject", as: String.self))"
                }
            #expect(actions == ["user add user ops", "user passwd user ops", "user rm user ops"])
        }
    }
}
