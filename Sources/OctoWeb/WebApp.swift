import FoundationEssentials
import HTTPTypes
import Hummingbird
import MariaDB
import Mustache
import NIOCore
import OctoCore
import OctoTime
import ServiceLifecycle

/// The request context: who is asking, once the session cookie has been checked.
public struct WebContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public init(source: ApplicationRequestContextSource) { coreContext = .init(source: source) }
}

/// A logged-in browser: its account, its CSRF token and its session token.
struct Session: Sendable {
    var account: Account
    var csrf: String
    var token: String
    var actor: String { "web:" + account.name }
}

/// The dashboard: pages rendered from the Mustache templates in `Assets/templates`, actions as POST forms
/// with a CSRF token, live logs over Server-Sent Events, `/api` and `/metrics`. All its state (sessions
/// included) is in the database, so any number of servers can run side by side.
public struct WebApp: Sendable {
    let pool: DatabasePool
    let library: MustacheLibrary
    let statics: [String: (type: String, body: ByteBuffer)]
    /// `Secure` on the session cookie (under TLS, or behind a proxy that terminates it).
    let secureCookies: Bool
    /// How often a live page asks the database for new lines.
    let pollInterval: Duration
    /// The one reader of new log lines behind every live page.
    let live: LiveLogs

    public static let cookieName = "octo_session"

    /// Password checks running at once (each takes 32 MiB and tens of milliseconds of one core).
    let hashGate = Gate(permits: 2)

    /// Polls without news after which a live stream sends a comment (about 15 s at the default interval).
    var keepAlivePolls: Int { max(1, Int(Duration.seconds(15) / pollInterval)) }

    public init(
        pool: DatabasePool, assets: WebAssets, secureCookies: Bool = false,
        pollInterval: Duration = .milliseconds(250)
    ) async throws {
        self.pool = pool
        // every template starts with {{% CONTENT_TYPE: OCTOHTML}}: the library's own HTML escaping compares whole
        // characters, so a quote or `<` that a combining mark or a prepended sign joins (`"\u{301}`, `\u{600}<`) would
        // pass through unescaped; this one escapes scalar by scalar
        MustacheContentTypes.register(EscapedHTML(), named: "OCTOHTML")
        library = try await MustacheLibrary(directory: assets.root + "/templates")
        var statics: [String: (String, ByteBuffer)] = [:]
        let types = [
            ("style.css", "text/css; charset=utf-8"), ("live.js", "text/javascript; charset=utf-8"),
            ("icon.svg", "image/svg+xml")
        ]
        for (name, type) in types {
            statics[name] = (type, ByteBuffer(bytes: try assets.read("static/" + name)))
        }
        self.statics = statics
        self.secureCookies = secureCookies
        self.pollInterval = pollInterval
        live = LiveLogs(pool: pool, interval: pollInterval)
    }

    /// Every route of the dashboard.
    public func router() -> Router<WebContext> {
        let router = Router(context: WebContext.self)
        router.add(middleware: SecurityHeaders())
        router.get("/static/:file") { _, context in try self.staticFile(context) }
        router.get("/favicon.ico") { _, _ in redirect("/static/icon.svg", status: .movedPermanently) }
        router.get("/login") { request, _ in
            self.loginPage(request, ["next": safeNext(Forms.parse(request.uri.query ?? "")["next"])])
        }
        router.post("/login") { request, _ in try await self.login(request) }
        router.post("/logout") { request, _ in
            try await self.action(request, need: .viewer) { s, _ in
                try await self.pool.run { db in try AccountStore.logout(db, token: s.token) }
                var r = redirect("/login")
                r.setCookie(self.cookie("", maxAge: 0))
                return r
            }
        }
        router.get("/") { request, _ in try await self.page(request) { s in try await self.overview(request, s) } }
        router.get("/jobs/:name") { request, context in
            try await self.page(request) { s in try await self.jobPage(request, context, s) }
        }
        router.get("/runs/:id") { request, context in
            try await self.page(request) { s in try await self.runPage(context, s) }
        }
        router.get("/runs/:id/events") { request, context in
            guard try await self.session(request) != nil else { return plain("log in first", .unauthorized) }
            return try self.runEvents(request, context, token: request.cookies[WebApp.cookieName]?.value ?? "")
        }
        router.get("/audit") { request, _ in try await self.page(request) { s in try await self.auditPage(request, s) }
        }
        router.get("/machines") { request, _ in try await self.page(request) { s in try await self.machinesPage(s) } }
        router.get("/alerts") { request, _ in try await self.page(request) { s in try await self.alertsPage(s) } }
        router.get("/graph") { request, _ in try await self.page(request) { s in try await self.graphPage(request, s) }
        }
        router.get("/logs") { request, _ in try await self.page(request) { s in try await self.logsPage(request, s) } }
        router.get("/logs/events") { request, _ in
            guard try await self.session(request) != nil else { return plain("log in first", .unauthorized) }
            return try self.logEvents(request, token: request.cookies[WebApp.cookieName]?.value ?? "")
        }
        router.get("/metrics") { _, _ in try await self.metrics() }
        router.get("/api/jobs") { request, _ in
            guard try await self.session(request) != nil else { return plain("log in first", .unauthorized) }
            return try await self.apiJobs()
        }
        router.get("/api/jobs/:name/runs") { request, context in
            guard try await self.session(request) != nil else { return plain("log in first", .unauthorized) }
            return try await self.apiRuns(context)
        }
        // actions: operators and admins, a CSRF token on every one, each audited as web:NAME
        router.post("/jobs/:name/run") { request, context in
            try await self.action(request, need: .operator) { s, form in try await self.runNow(context, s, form) }
        }
        router.get("/add") { request, _ in
            try await self.page(request) { s in
                guard s.account.role >= .operator else { return plain("refused: viewers do not add jobs", .forbidden) }
                let blank = Job(name: "", command: "")
                let values = Dictionary(uniqueKeysWithValues: Job.attributes.map { ($0.name, $0.get(blank)) })
                return self.jobForm(s, edit: nil, values: values.merging(["owner": s.account.name]) { $1 }, error: nil)
            }
        }
        router.post("/add") { request, _ in
            try await self.action(request, need: .operator) { s, form in try await self.saveJob(s, form, edit: nil) }
        }
        router.get("/jobs/:name/edit") { request, context in
            try await self.page(request) { s in
                guard s.account.role >= .operator else { return plain("refused: viewers do not edit jobs", .forbidden) }
                let name = context.parameters.get("name") ?? ""
                let job = try await self.pool.run { db in try JobStore.require(db, name) }
                let values = Dictionary(uniqueKeysWithValues: Job.attributes.map { ($0.name, $0.get(job)) })
                return self.jobForm(s, edit: name, values: values, error: nil)
            }
        }
        router.post("/jobs/:name/edit") { request, context in
            try await self.action(request, need: .operator) { s, form in
                try await self.saveJob(s, form, edit: context.parameters.get("name") ?? "")
            }
        }
        router.get("/users") { request, _ in
            try await self.page(request) { s in
                guard s.account.role >= .admin else { return plain("refused: only admins manage accounts", .forbidden) }
                return try await self.usersPage(s, error: nil)
            }
        }
        router.post("/users") { request, _ in
            try await self.action(request, need: .admin) { s, form in
                let name = form["name"] ?? ""
                let role = try Role.parse(form["role"] ?? "")
                let password = form["password"] ?? ""
                do {
                    try await self.pool.run { db in
                        try AccountStore.add(db, name, role: role, password: password, by: s.actor)
                    }
                } catch let e as OctoError where e.kind == .usage {
                    return try await self.usersPage(s, error: e.message)
                }
                return redirect("/users")
            }
        }
        router.post("/users/:name/passwd") { request, context in
            try await self.action(request, need: .admin) { s, form in
                let name = context.parameters.get("name") ?? ""
                let password = form["password"] ?? ""
                do {
                    try await self.pool.run { db in
                        try AccountStore.setPassword(db, name, password: password, by: s.actor)
                    }
                } catch let e as OctoError where e.kind == .usage && !e.message.hasPrefix("no ") {
                    return try await self.usersPage(s, error: e.message)
                }
                return redirect("/users")
            }
        }
        router.post("/users/:name/rm") { request, context in
            try await self.action(request, need: .admin) { s, _ in
                let name = context.parameters.get("name") ?? ""
                if name == s.account.name { throw OctoError.usage("an admin cannot remove their own account here") }
                try await self.pool.run { db in try AccountStore.remove(db, name, by: s.actor) }
                return redirect("/users")
            }
        }
        router.post("/jobs/:name/pass") { request, context in
            try await self.action(request, need: .operator) { s, form in try await self.pass(context, s, form) }
        }
        router.post("/jobs/:name/pause") { request, context in
            try await self.action(request, need: .operator) { s, _ in try await self.setPaused(context, s, true) }
        }
        router.post("/jobs/:name/resume") { request, context in
            try await self.action(request, need: .operator) { s, _ in try await self.setPaused(context, s, false) }
        }
        router.post("/runs/:id/kill") { request, context in
            try await self.action(request, need: .operator) { s, _ in try await self.kill(context, s) }
        }
        router.post("/alerts/:id/ack") { request, context in
            try await self.action(request, need: .operator) { s, _ in try await self.ack(context, s) }
        }
        return router
    }

    // MARK: - Sessions, pages and actions

    func session(_ request: Request) async throws -> Session? {
        guard let token = request.cookies[WebApp.cookieName]?.value, !token.isEmpty else { return nil }
        guard let (account, csrf) = try await pool.run({ db in try AccountStore.session(db, token: token) }) else {
            return nil
        }
        return Session(account: account, csrf: csrf, token: token)
    }

    /// A page for any logged-in account; without a session, the login page (which comes back here).
    func page(_ request: Request, _ body: (Session) async throws -> Response) async throws -> Response {
        guard let s = try await session(request) else {
            let back = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
            return redirect("/login?next=" + Forms.encode(back))
        }
        do {
            return try await body(s)
        } catch let e as OctoError {
            // "no job named …" is a page that is not there; any other refusal is bad input (a date, a level)
            let missing = e.message.hasPrefix("no ")
            return render(
                "error", base(s, title: missing ? "Not found" : "Refused") + ["message": e.message],
                status: e.kind == .usage ? (missing ? .notFound : .badRequest) : .internalServerError)
        }
    }

    /// A POST: a session, its CSRF token in the form, and at least the role `need`; a refusal of the CLI's
    /// (bad input, a concurrency rule) is shown with its message.
    func action(
        _ request: Request, need: Role, _ body: (Session, [String: String]) async throws -> Response
    ) async throws -> Response {
        guard let s = try await session(request) else { return plain("log in first", .unauthorized) }
        let form = try await readForm(request)
        guard let sent = form["csrf"], constantTimeEqual(Array(sent.utf8), Array(s.csrf.utf8)) else {
            return plain("refused: the form's CSRF token is missing or wrong (reload the page)", .forbidden)
        }
        guard s.account.role >= need else {
            return plain(
                "refused: \(s.account.name) is a \(s.account.role.rawValue); this needs an \(need.rawValue)", .forbidden
            )
        }
        do {
            return try await body(s, form)
        } catch let e as OctoError {
            let missing = e.message.hasPrefix("no ")
            return render(
                "error", base(s, title: missing ? "Not found" : "Refused") + ["message": e.message],
                status: e.kind == .usage ? (missing ? .notFound : .badRequest) : .conflict)
        }
    }

    func readForm(_ request: Request) async throws -> [String: String] {
        // a command may be 64 KiB, three times that once percent-encoded, beside the form's other fields
        let body = try await request.body.collect(upTo: 256 * 1024)
        return Forms.parse(String(buffer: body))
    }

    public static let loginCookieName = "octo_login"

    /// The login page with its form's token: a cookie of its own (SameSite=Strict, so no other site's page sends
    /// it) that the form repeats. A login posted from another site is refused — it would log the browser in as
    /// someone else's account (login CSRF).
    func loginPage(_ request: Request, _ fields: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let kept = request.cookies[WebApp.loginCookieName]?.value ?? ""
        let token =
            kept.utf8.count == 64 && kept.utf8.allSatisfy { Forms.hexValue($0) != nil } ? kept : hex(randomBytes(32))
        var r = render("login", ["title": "Log in", "csrf": token] + fields, status: status)
        r.setCookie(
            Cookie(
                name: WebApp.loginCookieName, value: token, maxAge: 3600, path: "/login", secure: secureCookies,
                httpOnly: true, sameSite: .strict))
        return r
    }

    func login(_ request: Request) async throws -> Response {
        let form = try await readForm(request)
        guard let sent = form["csrf"], let kept = request.cookies[WebApp.loginCookieName]?.value, !kept.isEmpty,
            constantTimeEqual(Array(sent.utf8), Array(kept.utf8))
        else {
            return plain("refused: the login form's token is missing or wrong (reload the login page)", .forbidden)
        }
        let name = form["name"] ?? ""
        let password = form["password"] ?? ""
        let next = safeNext(form["next"])
        // the slow hash is checked off the database connections (a flood of logins must not hold them all),
        // at most two at a time
        let candidate = try await pool.run { db in try AccountStore.loginCandidate(db, name) }
        var result: AccountStore.LoginResult
        switch candidate {
        case .limited(let wait): result = .limited(retryAfter: wait)
        case .check(let stored, let role, let attempt):
            await hashGate.enter()
            let ok = PasswordHash.verify(password, stored ?? AccountStore.dummyHash)
            await hashGate.leave()
            if ok, let role {
                result = try await pool.run { db in
                    try AccountStore.succeeded(db, attempt: attempt)
                    return try AccountStore.startSession(db, Account(name: name, role: role))
                }
            } else {
                result = .wrong  // the attempt's reserved row is its failure
            }
        }
        switch result {
        case .ok(let token, _, _):
            var r = redirect(next)
            r.setCookie(cookie(token, maxAge: Int(AccountStore.sessionLifetime)))
            return r
        case .wrong:
            return loginPage(
                request, ["next": next, "name": name, "error": "wrong name or password"], status: .unauthorized)
        case .limited(let wait):
            var r = loginPage(
                request,
                [
                    "next": next, "name": name,
                    "error": "too many failed logins for this name; try again in \(durationText(Double(wait)))"
                ], status: .tooManyRequests)
            r.headers[.retryAfter] = String(wait)
            return r
        }
    }

    func cookie(_ value: String, maxAge: Int) -> Cookie {
        Cookie(
            name: WebApp.cookieName, value: value, maxAge: maxAge, path: "/", secure: secureCookies, httpOnly: true,
            sameSite: .strict)
    }

    func base(_ s: Session, title: String) -> [String: Any] {
        [
            "title": title, "user": s.account.name, "role": s.account.role.rawValue, "csrf": s.csrf,
            "canAct": s.account.role >= .operator, "isAdmin": s.account.role >= .admin
        ]
    }

    func render(_ template: String, _ context: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        guard let text = library.render(context, withTemplate: template) else {
            return plain("template \(template) is missing", .internalServerError)
        }
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func staticFile(_ context: WebContext) throws -> Response {
        guard let name = context.parameters.get("file"), let (type, body) = statics[name] else {
            return plain("not found", .notFound)
        }
        return Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "max-age=300"], body: .init(byteBuffer: body))
    }

    func settings() async throws -> Settings { try await pool.run { db in try SettingsStore.load(db) } }

    // MARK: - Pages

    func overview(_ request: Request, _ s: Session) async throws -> Response {
        let q = query(request)
        let text = q["q"] ?? ""
        let owner = q["owner"] ?? ""
        let state = q["state"] ?? ""
        let pageNumber = min(max(1, Int(q["page"] ?? "1") ?? 1), 100_000)
        let perPage = 100
        let settings = try await settings()
        // the last run is read only for the jobs shown, unless the filter is on its state (then for all)
        let byLastRun = !state.isEmpty && !["active", "paused"].contains(state)
        let (count, shown, marks, now) = try await pool.run { db in
            func keep(_ j: Job) -> Bool {
                (text.isEmpty || j.name.contains(text)) && (owner.isEmpty || j.owner == owner)
                    && (state != "paused" || j.paused) && (state != "active" || !j.paused)
            }
            let shown: [JobStore.Summary]
            let count: Int
            if byLastRun {
                let all = try JobStore.summaries(db).filter { m in
                    keep(m.job) && state == (m.lastState?.rawValue ?? "never")
                }
                count = all.count
                shown = Array(all.dropFirst((pageNumber - 1) * perPage).prefix(perPage))
            } else {
                let all = try JobStore.all(db).filter(keep)
                count = all.count
                let page = all.dropFirst((pageNumber - 1) * perPage).prefix(perPage).map(\.name)
                shown = try JobStore.summaries(db, names: Array(page))
            }
            let now = try JobStore.serverNow(db)
            var marks: [String: [Charts.Mark]] = [:]
            for m in shown {
                marks[m.job.name] = Charts.marks(try RunQueue.history(db, job: m.job.name, limit: 20), now: now)
            }
            return (count, shown, marks, now)
        }
        var zones: [String: Zone] = [:]
        let rows: [[String: Any]] = shown.map { m in
            let zoneName = m.job.timezone.isEmpty ? settings.defaultTimezone : m.job.timezone
            let zone = zones[zoneName] ?? (try? Zone.named(zoneName)) ?? .utc
            zones[zoneName] = zone
            return [
                "name": m.job.name, "path": Forms.encode(m.job.name),
                "schedule": m.job.schedule.isEmpty
                    ? m.job.needs.first.map { "after \($0)" } ?? "(manual)" : m.job.schedule,
                "owner": m.job.owner, "paused": m.job.paused, "state": m.lastState?.rawValue ?? "never",
                "duration": m.lastDuration.map(durationText) ?? "",
                "started": m.lastStarted.map { zone.format($0) } ?? "",
                "next": m.job.paused ? "" : m.job.nextFireAt.map { zone.format($0) } ?? "",
                "spark": Charts.sparkline(marks[m.job.name] ?? [])
            ]
        }
        let pages = max(1, (count + perPage - 1) / perPage)
        func link(_ p: Int) -> String {
            "/?q=\(Forms.encode(text))&owner=\(Forms.encode(owner))&state=\(Forms.encode(state))&page=\(p)"
        }
        var ctx = base(s, title: "Jobs")
        ctx["jobs"] = rows
        ctx["count"] = count
        ctx["q"] = text
        ctx["owner"] = owner
        ctx["states"] = (["", "active", "paused", "never"] + Run.State.allCases.map(\.rawValue)).map {
            ["value": $0, "label": $0.isEmpty ? "any state" : $0, "selected": $0 == state] as [String: Any]
        }
        ctx["now"] = Zone.utc.format(now)
        if pageNumber > 1 { ctx["prev"] = link(pageNumber - 1) }
        if pageNumber < pages { ctx["nextPage"] = link(pageNumber + 1) }
        ctx["page"] = "\(pageNumber) of \(pages)"
        return render("overview", ctx)
    }

    /// The trend chart's time ranges (the zoom), in seconds.
    static let ranges: [(String, Int64)] = [
        ("1h", 3600), ("6h", 21_600), ("1d", 86_400), ("3d", 259_200), ("7d", 604_800), ("30d", 2_592_000)
    ]

    func jobPage(_ request: Request, _ context: WebContext, _ s: Session) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        // without a range, the chart spans the last 100 runs (JobCenter's view); a range zooms to that much time
        let rangeName = query(request)["range"] ?? ""
        let range = WebApp.ranges.first { $0.0 == rangeName }
        let settings = try await settings()
        let (job, runs, chartRuns, now) = try await pool.run { db in
            let job = try JobStore.require(db, name)
            let now = try JobStore.serverNow(db)
            let chart =
                try range.map { try RunQueue.history(db, job: name, since: now - .seconds($0.1), limit: 5000) }
                ?? RunQueue.history(db, job: name, limit: 100)
            return (job, try RunQueue.history(db, job: name, limit: 50), chart, now)
        }
        let zone = try job.zone(default: settings.defaultTimezone)
        var ctx = base(s, title: job.name)
        ctx["name"] = job.name
        ctx["path"] = Forms.encode(job.name)
        ctx["paused"] = job.paused
        ctx["attributes"] = job.json(defaultZone: settings.defaultTimezone).sorted { $0.key < $1.key }.map {
            ["key": $0.key, "value": displayText($0.value)]
        }
        ctx["hasNeeds"] = !job.needs.isEmpty
        ctx["needs"] = job.needs.map { ["name": $0, "path": Forms.encode($0)] }
        let next = (try? job.parsedSchedule().fires(after: now, in: zone, count: 5)) ?? []
        ctx["nextFires"] = job.paused ? [] : next.map { zone.format($0) }
        let marks = Charts.marks(chartRuns, now: now)
        let from: Instant
        if let range {
            from = now - .seconds(range.1)
        } else {
            // the first run a little in from the left edge
            let first = marks.first?.at ?? now - .seconds(3600)
            from = first - .microseconds(max(1_000_000, (now - first).microseconds / 20))
        }
        ctx["chart"] = Charts.trend(
            marks, from: from, to: now, zone: zone)
        let path = "/jobs/\(Forms.encode(job.name))"
        ctx["ranges"] =
            [["label": "last 100 runs", "href": path, "current": range == nil] as [String: Any]]
            + WebApp.ranges.map {
                ["label": $0.0, "href": "\(path)?range=\($0.0)", "current": $0.0 == range?.0] as [String: Any]
            }
        ctx["runs"] = runs.map { runRow($0, zone) }
        return render("job", ctx)
    }

    func runRow(_ r: Run, _ zone: Zone) -> [String: Any] {
        [
            "id": r.id, "fire": zone.format(r.fireTime), "trigger": "\(r.trigger.rawValue)#\(r.attempt)",
            "machine": r.machine ?? "", "state": r.state.rawValue,
            "started": r.startedAt.map { zone.format($0) } ?? "", "duration": r.duration.map(durationText) ?? "",
            "exit": r.exitSignal.map { "signal \($0)" } ?? r.exitCode.map(String.init) ?? ""
        ]
    }

    func runPage(_ context: WebContext, _ s: Session) async throws -> Response {
        guard let id = Int64(context.parameters.get("id") ?? "") else { throw OctoError.usage("no such run") }
        let settings = try await settings()
        let (run, job, lines) = try await pool.run { db in
            guard let run = try RunQueue.get(db, id) else { throw OctoError.usage("no run \(id)") }
            let job = try JobStore.get(db, run.jobName)
            let lines = try LogQuery.tail(db, LogQuery.Filter(runID: id), limit: 2000)
            return (run, job, lines)
        }
        let zone =
            (try? job?.zone(default: settings.defaultTimezone)) ?? (try? Zone.named(settings.defaultTimezone)) ?? .utc
        var ctx = base(s, title: "Run \(id) of \(run.jobName)")
        ctx["run"] = runRow(run, zone)
        ctx["job"] = run.jobName
        ctx["jobPath"] = Forms.encode(run.jobName)
        ctx["reason"] = run.reason
        ctx["hasReason"] = !run.reason.isEmpty
        ctx["logicalDate"] = run.logicalDate
        ctx["finished"] = run.state.isFinished
        ctx["killable"] = !run.state.isFinished
        ctx["more"] = lines.more
        ctx["lines"] = lines.lines.map(lineRow)
        ctx["after"] = lines.lines.map(\.id).max() ?? 0
        return render("run", ctx)
    }

    func lineRow(_ l: LogQuery.Line) -> [String: Any] {
        ["id": l.id, "at": Zone.utc.format(l.loggedAt), "level": l.level.rawValue, "text": l.content]
    }

    /// Server-Sent Events of a run's log: every line after `after` (or the `Last-Event-ID`), as it is stored,
    /// its state as it changes, then one `end` event when the run has finished and its last lines are sent.
    func runEvents(_ request: Request, _ context: WebContext, token: String) throws -> Response {
        guard let id = Int64(context.parameters.get("id") ?? "") else { return plain("no such run", .notFound) }
        let start = lastEventID(request) ?? Int64(query(request)["after"] ?? "") ?? 0
        let feed = Feed(
            filter: LogQuery.Filter(runID: id), run: id, after: start,
            stored: { db, after in try LogQuery.lines(db, runID: id, after: after, limit: WebApp.storedChunk) })
        return eventStream(feed, token: token)
    }

    func lastEventID(_ request: Request) -> Int64? {
        request.headers[HTTPField.Name("Last-Event-ID")!].flatMap { Int64($0) }
    }

    /// What a live stream follows and how it says it.
    struct Feed: Sendable {
        var filter: LogQuery.Filter
        /// Following a run: its state changes are sent, and the stream ends with it.
        var run: Int64?
        /// The lines up to this id were shown already (by the page, or before a reconnection: `Last-Event-ID`).
        var after: Int64
        /// The stream ends after this many lines.
        var max = Int.max
        /// Lines stored after an id (at most `storedChunk`): the stream sends them before the live ones.
        var stored: @Sendable (Connection, Int64) throws -> [LogQuery.Line]
    }

    static let storedChunk = 1000

    /// A live stream: the lines already stored, then those the live reader hands over as they come; after about
    /// 15 s of quiet a comment, which keeps proxies from closing the stream, finds a browser that left, and
    /// ends the stream once its session is gone (logged out, expired or removed).
    func eventStream(_ feed: Feed, token: String) -> Response {
        let (pool, live, keepAlive) = (self.pool, self.live, keepAlivePolls)
        let body = ResponseBody { writer in
            let subscription = try await live.subscribe(feed.filter, run: feed.run)
            var failure: (any Error)?
            do {
                var sent = 0
                var caught = Set<Int64>()
                func event(_ l: LogQuery.Line) throws -> String {
                    sent += 1
                    return try LiveLogs.event(l)
                }
                try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
                var after = feed.after
                while sent < feed.max {
                    let from = after
                    let chunk = try await pool.run { db in try feed.stored(db, from) }
                    var text = ""
                    for l in chunk.prefix(feed.max - sent) {
                        text += try event(l)
                        caught.insert(l.id)
                        after = Swift.max(after, l.id)
                    }
                    if !text.isEmpty { try await writer.write(ByteBuffer(string: text)) }
                    if chunk.count < WebApp.storedChunk || after == from { break }
                }
                var idle = 0
                var lastState: Run.State?
                // a stream never ends by itself: on the server's graceful shutdown (SIGTERM) it ends, so the server
                // does not wait for browsers that would never leave (they reconnect, to the next server)
                try await withGracefulShutdownHandler {
                    for await batch in subscription.batches {
                        if sent >= feed.max { break }
                        var text = ""
                        for l in batch.lines
                        where l.line.id > feed.after && !caught.contains(l.line.id) && sent < feed.max {
                            sent += 1
                            text += l.event
                        }
                        var ended = false
                        if feed.run != nil && batch.stateRead {
                            if let state = batch.state, !state.isFinished {
                                if state != lastState {
                                    text += "event: state\ndata: {\"state\":\"\(state.rawValue)\"}\n\n"
                                }
                                lastState = state
                            } else {
                                ended = true
                                text += "event: end\ndata: {\"state\":\"\(batch.state?.rawValue ?? "gone")\"}\n\n"
                            }
                        }
                        idle = text.isEmpty ? idle + 1 : 0
                        if idle >= keepAlive {
                            guard try await pool.run({ db in try AccountStore.session(db, token: token) }) != nil else {
                                break
                            }
                            text = ": keep-alive\n\n"
                            idle = 0
                        }
                        if !text.isEmpty { try await writer.write(ByteBuffer(string: text)) }
                        if ended { break }
                    }
                } onGracefulShutdown: {
                    Task { await live.unsubscribe(subscription.id) }
                }
            } catch {
                failure = error
            }
            await live.unsubscribe(subscription.id)
            if let failure { throw failure }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"
            ],
            body: body)
    }

    func auditPage(_ request: Request, _ s: Session) async throws -> Response {
        let job = query(request)["job"].flatMap { $0.isEmpty ? nil : $0 }
        let entries = try await pool.run { db in try AuditStore.list(db, job: job, since: 30 * 86_400, limit: 500) }
        var ctx = base(s, title: "Audit")
        ctx["job"] = job ?? ""
        ctx["entries"] = entries.map { e in
            [
                "at": Zone.utc.format(e.at), "actor": e.record.actor, "action": e.record.action.rawValue,
                "job": e.record.job ?? "", "jobPath": Forms.encode(e.record.job ?? ""), "hasJob": e.record.job != nil,
                "run": e.record.run.map(String.init) ?? "", "hasRun": e.record.run != nil, "subject": e.record.subject,
                "changes": e.record.changes.map { c in
                    "\(c.attribute): \(displayText(c.old)) → \(displayText(c.new))"
                }.joined(separator: "; ")
            ] as [String: Any]
        }
        return render("audit", ctx)
    }

    func machinesPage(_ s: Session) async throws -> Response {
        let settings = try await settings()
        let statuses = try await pool.run { db in try MachineStore.statuses(db, ttl: settings.machineTTL) }
        var ctx = base(s, title: "Machines")
        ctx["machines"] = statuses.map { m in
            [
                "name": m.machine.name, "state": m.shownState, "seen": durationText(m.age) + " ago",
                "slots": "\(m.slotsInUse) / \(m.machine.slots)", "groups": m.machine.groups.joined(separator: ", "),
                "load": Charts.n(m.machine.load.0)
            ] as [String: Any]
        }
        return render("machines", ctx)
    }

    func alertsPage(_ s: Session) async throws -> Response {
        let alerts = try await pool.run { db in try AlertStore.list(db, job: nil, open: false, limit: 300) }
        var ctx = base(s, title: "Alerts")
        ctx["alerts"] = alerts.map { a in
            [
                "id": a.id, "kind": a.kind.rawValue, "job": a.job, "jobPath": Forms.encode(a.job),
                "hasJob": !a.job.isEmpty,
                "run": a.runID.map(String.init) ?? "", "hasRun": a.runID != nil,
                "first": Zone.utc.format(a.firstAt), "last": Zone.utc.format(a.lastAt), "count": a.occurrences,
                "line": a.lastLine, "state": a.state.rawValue, "open": a.state.rawValue != "acked"
            ] as [String: Any]
        }
        return render("alerts", ctx)
    }

    func graphPage(_ request: Request, _ s: Session) async throws -> Response {
        let q = query(request)
        let job = q["job"].flatMap { $0.isEmpty ? nil : $0 }
        let date = q["date"].flatMap { $0.isEmpty ? nil : $0 }
        let settings = try await settings()
        let zone = try Zone.named(settings.defaultTimezone)
        let status = try await pool.run { db in
            try GraphStatus.read(db, around: job, date: date, fire: nil, defaultZone: zone)
        }
        var ctx = base(s, title: "Dependencies")
        ctx["date"] = status.date ?? ""
        ctx["job"] = job ?? ""
        ctx["rows"] = status.rows.map { r in
            [
                "job": r.job, "path": Forms.encode(r.job), "depth": min(r.depth, 9), "summary": status.summary(r),
                "runs": r.runs.map { ["id": $0.id, "state": $0.state.rawValue] as [String: Any] }
            ] as [String: Any]
        }
        return render("graph", ctx)
    }

    /// The log search's filter from the query (`job`, `machine`, `level`, `grep`, `since` as a duration).
    func logFilter(_ q: [String: String]) throws -> LogQuery.Filter {
        var f = LogQuery.Filter()
        if let j = q["job"], !j.isEmpty { f.job = j }
        if let m = q["machine"], !m.isEmpty { f.machine = m }
        if let g = q["grep"], !g.isEmpty { f.grep = g }
        if let l = q["level"], !l.isEmpty {
            guard let level = LogLevel(rawValue: l) else {
                throw OctoError.invalid("level", l, expected: LogLevel.allCases.map(\.rawValue).joined(separator: ", "))
            }
            f.level = level
        }
        let since = try Durations.parse(q["since"].flatMap { $0.isEmpty ? nil : $0 } ?? "1h", what: "since")
        if since <= 0 || since > 31 * 86_400 {
            throw OctoError.invalid("since", q["since"] ?? "", expected: "a duration from 1s to 31d")
        }
        f.since = Instant.now() - .seconds(since)
        return f
    }

    /// The query string as a form encodes it (`+` is a space, as a browser's GET form sends it).
    func query(_ request: Request) -> [String: String] { Forms.parse(request.uri.query ?? "") }

    func logsPage(_ request: Request, _ s: Session) async throws -> Response {
        let q = query(request)
        var ctx = base(s, title: "Logs")
        for k in ["job", "machine", "grep"] { ctx[k] = q[k] ?? "" }
        ctx["since"] = q["since"] ?? "1h"
        ctx["levels"] = ([""] + LogLevel.allCases.map(\.rawValue)).map {
            ["value": $0, "label": $0.isEmpty ? "any level" : "\($0) and worse", "selected": $0 == (q["level"] ?? "")]
                as [String: Any]
        }
        ctx["follow"] = q["follow"] == "on"
        let filter = try logFilter(q)
        let (lines, more) = try await pool.run { db in try LogQuery.tail(db, filter, limit: 500) }
        ctx["lines"] = lines.map { l in
            lineRow(l) + [
                "job": l.jobName, "jobPath": Forms.encode(l.jobName), "machine": l.machine,
                "run": l.runID.map(String.init) ?? "", "hasRun": l.runID != nil
            ]
        }
        ctx["more"] = more
        ctx["count"] = lines.count
        ctx["after"] = lines.map(\.id).max() ?? 0
        ctx["query"] = ["job", "machine", "level", "grep", "since"].map { "\($0)=\(Forms.encode(q[$0] ?? ""))" }
            .joined(separator: "&")
        return render("logs", ctx)
    }

    /// A followed log search: every new line matching the filter, as Server-Sent Events, until the browser leaves.
    func logEvents(_ request: Request, token: String) throws -> Response {
        let q = query(request)
        let filter: LogQuery.Filter
        do { filter = try logFilter(q) } catch let e as OctoError { return plain(e.message, .badRequest) }
        let feed = Feed(
            filter: filter, after: lastEventID(request) ?? Int64(q["after"] ?? "") ?? 0,
            // max=N: end the stream after N lines (for scripts and tests; a browser follows until it leaves)
            max: q["max"].flatMap { Int($0) }.map { Swift.max(1, $0) } ?? Int.max,
            // every stored line after `after` the filter selects (a reconnection after a restart or a laptop's
            // sleep gets what it missed), not only the live follower's last two minutes
            stored: { db, after in try LogQuery.lines(db, filter, after: after, limit: WebApp.storedChunk) })
        return eventStream(feed, token: token)
    }

    func metrics() async throws -> Response {
        let settings = try await settings()
        let snapshot = try await pool.run { db in try MetricsStore.snapshot(db, machineTTL: settings.machineTTL) }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: Metrics.renderBytes(snapshot))))
    }

    func apiJobs() async throws -> Response {
        let settings = try await settings()
        let all = try await pool.run { db in try JobStore.summaries(db) }
        return try json(.array(all.map { $0.json(defaultZone: settings.defaultTimezone) }))
    }

    func apiRuns(_ context: WebContext) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        do {
            let (runs, unmet) = try await pool.run { db in
                _ = try JobStore.require(db, name)
                let runs = try RunQueue.history(db, job: name, limit: 100)
                return (runs, try NeedsStore.unmet(db, runIDs: runs.filter { $0.state == .waiting }.map(\.id)))
            }
            return try json(
                .array(runs.map { r in r.json(waitsFor: unmet.filter { $0.runID == r.id }.map(NeedsStore.waitText)) }))
        } catch let e as OctoError {
            return try json(.object(["error": .string(e.message)]), status: .notFound)
        }
    }

    func json(_ value: JSON, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: try value.text())))
    }

    // MARK: - Actions

    func runNow(_ context: WebContext, _ s: Session, _ form: [String: String]) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        let settings = try await settings()
        let date = (form["date"] ?? "").trimmingWhitespace()
        let machine = (form["machine"] ?? "").trimmingWhitespace()
        if !machine.isEmpty, !Names.isValidName(machine) {
            throw OctoError.invalid("machine", machine, expected: Names.nameRule)
        }
        let recorded = try await pool.run { db in
            let job = try JobStore.require(db, name)
            var request = RunQueue.RunRequest()
            if !date.isEmpty {
                _ = try TimeText.day(date, zone: .utc)  // the date's form, before anything is read
                let graph = try NeedsStore.graph(db, defaultZone: settings.defaultTimezone)
                let fires = try graph.fires(of: job, fire: nil, date: date)
                guard !fires.isEmpty else { throw OctoError.usage("job '\(job.name)' has no fires on \(date)") }
                request.fires = fires
            }
            request.downstream = form["downstream"] == "on"
            request.upstream = form["upstream"] == "on"
            request.ignoreNeeds = form["ignore_needs"] == "on"
            request.force = form["force"] == "on"
            request.machine = machine.isEmpty ? nil : machine
            return try RunQueue.runNow(db, job: job, settings: settings, request, by: s.actor)
        }
        guard let id = recorded.ids.first else { throw OctoError.failure("the run was not queued") }
        return redirect("/runs/\(id)")
    }

    /// The add or edit form: one field per attribute (the CLI's names and help), the refusal above it if any.
    func jobForm(_ s: Session, edit: String?, values: [String: String], error: String?) -> Response {
        var ctx = base(s, title: edit.map { "Edit \($0)" } ?? "Add a job")
        ctx["action"] = edit.map { "/jobs/\(Forms.encode($0))/edit" } ?? "/add"
        ctx["editing"] = edit != nil
        ctx["error"] = error ?? ""
        ctx["hasError"] = error != nil
        ctx["fields"] = Job.attributes.filter { $0.name != "paused" }.map { a in
            [
                "name": a.name, "value": values[a.name] ?? "", "help": a.help,
                "wide": a.name == "command", "required": a.name == "name" || a.name == "command"
            ] as [String: Any]
        }
        return render("jobform", ctx, status: error == nil ? .ok : .badRequest)
    }

    /// Adds a job, or changes the attributes whose text differs from the job's, through the CLI's checks and
    /// stores; a refusal shows the form again with what was typed and the CLI's message.
    func saveJob(_ s: Session, _ form: [String: String], edit: String?) async throws -> Response {
        let settings = try await settings()
        var typed: [String: String] = [:]
        // a browser sends a textarea's line breaks as CRLF (the HTML standard): stored as typed, every line of a
        // multi-line command but the last would end in a carriage return under /bin/sh
        for a in Job.attributes where a.name != "paused" { typed[a.name] = Forms.unixNewlines(form[a.name] ?? "") }
        let values = typed
        do {
            let saved = try await pool.run { db -> Job in
                if let edit {
                    return try JobStore.change(db, edit, .edit, by: s.actor, defaultZone: settings.defaultTimezone) {
                        job in
                        for a in Job.attributes where a.name != "paused" {
                            if let v = values[a.name], v != a.get(job) { try a.set(&job, v) }
                        }
                    }.1
                }
                var job = Job(name: "", command: "")
                for a in Job.attributes where a.name != "paused" {
                    if let v = values[a.name], !v.isEmpty || a.name == "name" || a.name == "command" {
                        try a.set(&job, v)
                    }
                }
                if job.command.isEmpty { throw OctoError.usage("a job needs a command") }
                return try JobStore.add(db, job, by: s.actor, defaultZone: settings.defaultTimezone)
            }
            return redirect("/jobs/\(Forms.encode(saved.name))")
        } catch let e as OctoError where e.kind == .usage {
            return jobForm(s, edit: edit, values: values, error: e.message)
        }
    }

    /// `octo sh pass JOB --date D`: the job's fires on that date count as succeeded for the jobs below.
    func pass(_ context: WebContext, _ s: Session, _ form: [String: String]) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        let date = (form["date"] ?? "").trimmingWhitespace()
        guard !date.isEmpty else { throw OctoError.usage("pass needs a date (YYYY-MM-DD)") }
        let settings = try await settings()
        _ = try await pool.run { db in
            let job = try JobStore.require(db, name)
            _ = try TimeText.day(date, zone: .utc)  // the date's form, before anything is read
            let graph = try NeedsStore.graph(db, defaultZone: settings.defaultTimezone)
            let fires = try graph.fires(of: job, fire: nil, date: date)
            guard !fires.isEmpty else { throw OctoError.usage("job '\(job.name)' has no fires on \(date)") }
            return try RunQueue.pass(db, job: job, fires: fires, settings: settings, by: s.actor)
        }
        return redirect("/jobs/\(Forms.encode(name))")
    }

    /// Accounts (admins): each with its role and creation time, forms to add one, set a password, remove one.
    func usersPage(_ s: Session, error: String?) async throws -> Response {
        let users = try await pool.run { db in try AccountStore.list(db) }
        var ctx = base(s, title: "Accounts")
        ctx["error"] = error ?? ""
        ctx["hasError"] = error != nil
        ctx["users"] = users.map { u in
            [
                "name": u.account.name, "path": Forms.encode(u.account.name), "role": u.account.role.rawValue,
                "created": Zone.utc.format(u.created), "me": u.account.name == s.account.name
            ] as [String: Any]
        }
        ctx["roles"] = Role.allCases.map(\.rawValue)
        return render("users", ctx, status: error == nil ? .ok : .badRequest)
    }

    func setPaused(_ context: WebContext, _ s: Session, _ paused: Bool) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        let settings = try await settings()
        _ = try await pool.run { db in
            try JobStore.change(
                db, name, paused ? .pause : .resume, by: s.actor, defaultZone: settings.defaultTimezone
            ) { $0.paused = paused }
        }
        return redirect("/jobs/\(Forms.encode(name))")
    }

    func kill(_ context: WebContext, _ s: Session) async throws -> Response {
        guard let id = Int64(context.parameters.get("id") ?? "") else { throw OctoError.usage("no such run") }
        _ = try await pool.run { db in try RunQueue.kill(db, runID: id, by: s.actor) }
        return redirect("/runs/\(id)")
    }

    func ack(_ context: WebContext, _ s: Session) async throws -> Response {
        guard let id = Int64(context.parameters.get("id") ?? "") else { throw OctoError.usage("no such alert") }
        let acked = try await pool.run { db in try AlertStore.ack(db, id, by: s.actor) }
        if !acked { throw OctoError.usage("no open alert \(id)") }
        return redirect("/alerts")
    }
}

/// HTML escaping of every `<`, `>`, `&`, `"` and `'` scalar, whatever characters they are part of.
struct EscapedHTML: MustacheContentType {
    func escapeText(_ text: String) -> String { html(text) }
}

/// At most `permits` holders at once; the others wait their turn.
actor Gate {
    var free: Int
    var waiting: [CheckedContinuation<Void, Never>] = []
    init(permits: Int) { free = permits }
    func enter() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }
    func leave() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}

/// A value used by one task at a time, handed to the database pool's thread and back.
final class Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A JSON value as a person reads it: strings bare, arrays comma-separated, null as nothing.
func displayText(_ v: JSON) -> String {
    switch v {
    case .string(let s): s
    case .int(let i): String(i)
    case .double(let d): String(d)
    case .bool(let b): b ? "yes" : "no"
    case .null: "–"
    case .array(let a): a.map(displayText).joined(separator: ", ")
    case .object: (try? v.text()) ?? ""
    }
}

/// Where to go after logging in: a path of this site only (never another host).
func safeNext(_ next: String?) -> String {
    // a browser drops tabs and newlines from a URL (`/\t/evil.example` is `//evil.example`): no control byte, no space
    guard let n = next, n.hasPrefix("/"), !n.hasPrefix("//"), !n.contains("\\"),
        n.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F })
    else { return "/" }
    return n
}

func redirect(_ to: String, status: HTTPResponse.Status = .seeOther) -> Response {
    Response(status: status, headers: [.location: to])
}

func plain(_ text: String, _ status: HTTPResponse.Status) -> Response {
    Response(
        status: status, headers: [.contentType: "text/plain; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
}

func + (a: [String: Any], b: [String: Any]) -> [String: Any] { a.merging(b) { _, new in new } }

/// Headers on every response: a CSP that allows no inline script and nothing from elsewhere, no framing,
/// no content sniffing, no referrer to other sites.
struct SecurityHeaders: RouterMiddleware {
    typealias Context = WebContext
    func handle(
        _ request: Request, context: WebContext, next: (Request, WebContext) async throws -> Response
    ) async throws -> Response {
        var r: Response
        do {
            r = try await next(request, context)
        } catch let e as any HTTPResponseError {
            // an error the framework turns into a response (too large a body, no route) gets the headers too
            r = try e.response(from: request, context: context)
        }
        r.headers[.contentSecurityPolicy] =
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        r.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        r.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        r.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        return r
    }
}
