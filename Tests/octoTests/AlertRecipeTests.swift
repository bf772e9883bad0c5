import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The alert recipes of docs/alerts.md, read from the file and run as
/// `alert_command` by a real `octo monitor` for a real failed run: the HTTP
/// ones against a local listener (a few lines of Python), the mail ones
/// against a `sendmail` / `mail` on PATH that keeps what it was given.
@Suite(.database, .bounded)
struct AlertRecipeTests {
    /// The ```sh block after `<!-- recipe: NAME -->` in docs/alerts.md.
    static func recipe(_ name: String) -> String? {
        guard let bytes = readFileBytes(Shell.root + "/docs/alerts.md") else { return nil }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard let marker = lines.firstIndex(of: "<!-- recipe: \(name) -->"), lines[marker + 1] == "```sh" else {
            return nil
        }
        let body = lines[(marker + 2)...].prefix { $0 != "```" }
        return body.joined(separator: "\n")
    }

    /// Accepts POSTs on 127.0.0.1 (a free port, written to `port`), answers 200 and keeps each body as `N.body`.
    static let listener = """
        import http.server, os, sys
        d = sys.argv[1]
        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                n = len([f for f in os.listdir(d) if f.endswith(".body")])
                open(os.path.join(d, "%d.tmp" % n), "wb").write(self.path.encode() + b"\\n" + body)
                os.rename(os.path.join(d, "%d.tmp" % n), os.path.join(d, "%d.body" % n))
                self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
            def log_message(self, *a): pass
        s = http.server.HTTPServer(("127.0.0.1", 0), H)
        open(os.path.join(d, "port.tmp"), "w").write(str(s.server_address[1]))
        os.rename(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
        s.serve_forever()
        """

    /// A failed run of job `etl` (alert_to set), then one monitor sweep with `command` as alert_command;
    /// returns the alert's id and state afterwards.
    func alertThrough(_ command: String, _ env: [String: String], _ db: Connection) async throws -> (Int64, String) {
        for args in [
            ["sh", "add", "etl", "--command", "echo 'disk full on /srv' >&2; exit 3", "--alert-to", "data@example.com"],
            ["sh", "run", "etl", "--here", "--wait"], ["sh", "settings", "alert_command", command], ["monitor"]
        ] {
            let r = try await OctoBinary.run(args, environment: env)
            #expect(r.status == (args.contains("--here") ? 3 : 0), "\(args): \(r.stderr)")
        }
        let row = try db.query("SELECT id, state FROM alerts WHERE kind = 'failed' AND job_name = 'etl'").first!
        return (try row.decode("id"), try row.decode("state"))
    }

    @Test(arguments: ["slack", "pagerduty"])
    func anHTTPRecipeDeliversTheAlertWithItsIdAsKey(_ name: String) async throws {
        guard var command = Self.recipe(name) else {
            Issue.record("no recipe \(name) in docs/alerts.md")
            return
        }
        let dir = TemporaryDirectory()
        defer { _ = try? ChildProcess.run(["rm", "-rf", dir.path]) }
        let script = dir.write("listener.py", Self.listener)
        let started = try await Shell.run("python3 '\(script)' '\(dir.path)' >/dev/null 2>&1 & echo $!")
        let pid = pid_t(started.stdout.trimmingWhitespace())!
        defer { kill(pid, SIGKILL) }
        #expect(await Processes.waitUntil(seconds: 120) { access(dir.path + "/port", F_OK) == 0 })
        let port = String(decoding: readFileBytes(dir.path + "/port") ?? [], as: UTF8.self)
        // the recipe's service URL, pointed at the listener
        let url = name == "slack" ? "https://hooks.slack.com/services/" : "https://events.pagerduty.com/"
        #expect(command.contains(url))
        command = command.replacing(url, with: "http://127.0.0.1:\(port)/")
        try await TestDatabase.withInitializedOcto { db, env, _ in
            let (id, state) = try await alertThrough(command, env, db)
            #expect(state == "sent")
            let body = String(decoding: readFileBytes(dir.path + "/0.body") ?? [], as: UTF8.self)
            let parts = body.split(separator: "\n", maxSplits: 1).map(String.init)
            guard parts.count == 2, case .object(let payload) = JSON.parse(parts[1]) else {
                Issue.record("no JSON payload: \(body)")
                return
            }
            let run = try db.query("SELECT id FROM runs WHERE job_name = 'etl'").first!.decode("id", as: Int64.self)
            let line = "run \(run) of etl failed (exit 3): exit code 3 is not accepted (ok_codes 0)"
            let subject = "[octo] job etl: failed (run \(run) on w1): " + line
            if name == "slack" {
                #expect(parts[0] == "/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX")
                #expect(payload["text"] == .string(subject + "\n```" + line + "```"))
                #expect(payload["octo_alert_id"] == .int(id))
            } else {
                #expect(parts[0] == "/v2/enqueue")
                #expect(payload["routing_key"] == .string("YOUR_ROUTING_KEY"))
                #expect(payload["event_action"] == .string("trigger"))
                #expect(payload["dedup_key"] == .string("octo-alert-\(id)"))
                guard case .object(let p) = payload["payload"] else {
                    Issue.record("no payload object: \(body)")
                    return
                }
                #expect(p["summary"] == .string(subject))
                #expect(p["source"] == .string("w1") && p["severity"] == .string("error"))
                #expect(p["component"] == .string("etl") && p["class"] == .string("failed"))
                guard case .object(let details) = p["custom_details"] else {
                    Issue.record("no custom_details: \(body)")
                    return
                }
                #expect(details["id"] == .int(id) && details["to"] == .string("data@example.com"))
            }
            #expect(access(dir.path + "/1.body", F_OK) != 0, "delivered once")
        }
    }

    @Test(arguments: ["sendmail", "mail"])
    func aMailRecipeHandsTheMailToTheMailer(_ name: String) async throws {
        guard let command = Self.recipe(name) else {
            Issue.record("no recipe \(name) in docs/alerts.md")
            return
        }
        let dir = TemporaryDirectory()
        defer { _ = try? ChildProcess.run(["rm", "-rf", dir.path]) }
        // the mailer: keeps its arguments and the message
        dir.write(
            name, "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"\(dir.path)/args\"\ncat > \"\(dir.path)/message\"\n",
            mode: 0o755)
        try await TestDatabase.withInitializedOcto { db, env, _ in
            var env = env
            env["PATH"] = dir.path + ":" + (TestDatabase.environment["PATH"] ?? "/usr/bin:/bin")
            let (id, state) = try await alertThrough(command, env, db)
            #expect(state == "sent")
            let args = String(decoding: readFileBytes(dir.path + "/args") ?? [], as: UTF8.self)
            let message = String(decoding: readFileBytes(dir.path + "/message") ?? [], as: UTF8.self)
            let run = try db.query("SELECT id FROM runs WHERE job_name = 'etl'").first!.decode("id", as: Int64.self)
            let line = "run \(run) of etl failed (exit 3): exit code 3 is not accepted (ok_codes 0)"
            let subject = "[octo] job etl: failed (run \(run) on w1): " + line
            if name == "sendmail" {
                #expect(args == "-t\n-i\n")
                #expect(message.hasPrefix("To: data@example.com\nSubject: \(subject)\nX-Octo-Alert-Id: \(id)\n"))
            } else {
                #expect(args == "-s\n\(subject)\ndata@example.com\n")
            }
            #expect(
                message.contains("kind: failed\njob: etl\nrun: \(run)\nmachine: w1\noccurrences: 1\n"), "\(message)")
            #expect(message.contains("Z  " + line + "\nlast:  "), "\(message)")
        }
    }
}

extension AlertRecipeTests {
    /// Slack reads `<!channel>` and `<url|text>` in a message: the recipe escapes `&`, `<`, `>` of what a job printed.
    @Test func theSlackRecipeEscapesWhatAJobPrinted() async throws {
        // the recipe up to its pipe into curl: the jq command alone
        guard let command = Self.recipe("slack"), let pipe = command.firstRange(of: "\\\n  | curl") else {
            Issue.record("no slack recipe ending in a pipe into curl")
            return
        }
        let filter = command[..<pipe.lowerBound]
        let dir = TemporaryDirectory()
        defer { _ = try? ChildProcess.run(["rm", "-rf", dir.path]) }
        dir.write("filter.sh", String(filter))
        dir.write(
            "alert.json",
            #"{"id": 7, "subject": "[octo] job a&b: failed", "last_line": "<!channel> see <http://x|here>"}"#)
        let r = try await Shell.run("sh '\(dir.path)/filter.sh' < '\(dir.path)/alert.json'")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(
            JSON.parse(r.stdout)
                == .object([
                    "text": .string("[octo] job a&amp;b: failed\n```&lt;!channel&gt; see &lt;http://x|here&gt;```"),
                    "octo_alert_id": .int(7)
                ]))
    }
}
