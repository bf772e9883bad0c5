import OctoTime
import Testing

@testable import OctoCore

struct JobFileTests {
    static let hostile = [
        "echo 'it''s' \"q\" `date` $(id) ; rm -rf ~ # not a comment",
        "line one\nline two\n\ttabbed",
        "日本語 🐙 emoji \\ backslash \\n literal",
        "ctrl \u{1} \u{7f} chars",
        "  leading and trailing spaces  "
    ]

    @Test(arguments: hostile)
    func renderThenParseRoundTrips(_ command: String) throws {
        var job = Job(name: "j-1.x_y", command: command)
        job.schedule = "*/5 * * * *"
        job.owner = "ops@example.com"
        job.retries = 3
        job.paused = true
        job.okCodes = [0, 3]
        let text = JobFile.render([job])
        let parsed = try JobFile.parse(text, path: "t.yaml")
        #expect(parsed.count == 1)
        #expect(parsed[0].job.definition == job.definition)
    }

    /// A zone an older octo stored and today's rules refuse is exported as it is (the definition dropped it, so
    /// `sh export --json` showed the job without its zone), and applying it back is refused, naming it.
    @Test func aStoredZoneTodaysRulesRefuseIsExportedAsItIs() throws {
        var job = Job(name: "old", command: "true")
        job.timezone = "localtime"
        #expect(job.definition.timezone == "localtime")
        let e = #expect(throws: OctoError.self) { try JobFile.parse(JobFile.render([job]), path: "t.yaml") }
        #expect(e?.message.contains("invalid time zone 'localtime'") == true, "\(e?.message ?? "")")
    }

    @Test func blockScalarsAndCommentsAndPlainValues() throws {
        let text = """
            # my jobs
            jobs:
              # first
              - name: report   # trailing comment
                command: |
                  cd /srv
                  ./build --all

                schedule: '0 6 * * mon-fri'
                retries: 2
                paused: false
              - name: keep
                command: |-
                  echo  two  spaces
                timezone: Europe/London
            """
        let e = try JobFile.parse(text, path: "f.yaml")
        #expect(e.map(\.job.name) == ["report", "keep"])
        #expect(e[0].job.command == "cd /srv\n./build --all\n")
        #expect(e[0].job.schedule == "0 6 * * mon-fri")
        #expect(e[0].job.retries == 2)
        #expect(e[0].given == ["name", "command", "schedule", "retries", "paused"])
        #expect(e[1].job.command == "echo  two  spaces")
        #expect(e[1].job.timezone == "Europe/London")
    }

    @Test(arguments: [
        ("jobs:\n  - name: a\n    command: x\n    colour: red\n", "line 4: unknown key 'colour'"),
        ("jobs:\n  - name: a\n    command: x\n  - name: a\n    command: y\n", "line 4: job 'a' is defined twice"),
        ("jobs:\n  - name: a\n", "job 'a' has no command"),
        ("jobs:\n  - command: x\n", "a job without a name"),
        ("jobs:\n  - name: a b\n    command: x\n", "line 2: invalid job name 'a b'"),
        ("jobs:\n  - name: a\n    command: x\n    timeout: -5m\n", "line 4: invalid timeout '-5m'"),
        ("jobs:\n  - name: a\n    command: x\n    schedule: * * * * *\n", "needs quotes"),
        ("jobs:\n  - name: a\n    command: \"unclosed\n", "not closed"),
        ("tasks:\n  - name: a\n", "expected 'jobs:'"),
        ("jobs:\n  - name: a\n    command: x\n    command: y\n", "appears twice")
    ])
    func rejects(_ text: String, _ expected: String) {
        let e = #expect(throws: OctoError.self) { try JobFile.parse(text, path: "f.yaml") }
        #expect(e?.exitCode == 2)
        #expect(e?.message.contains(expected) == true, "\(e?.message ?? "")")
        #expect(e?.message.hasPrefix("f.yaml") == true)
    }

    @Test func attributesHaveOneNameEverywhere() {
        #expect(Job.attribute("retry_delay")?.flag == "retry-delay")
        #expect(
            Job.attributes.map(\.name) == [
                "name", "command", "schedule", "needs", "timezone", "owner", "user", "target", "strategy",
                "concurrency", "max_parallel", "misfire", "timeout", "warn_after", "retries", "retry_delay",
                "ok_codes", "alert_level", "alert_to", "paused"
            ])
        let d = Job(name: "x", command: "y")
        #expect(
            (d.concurrency, d.misfire, d.retries, d.alertLevel, d.retryDelay, d.okCodes) == (
                Job.Concurrency.forbid, Job.Misfire.once, 0, Job.AlertLevel.error, 30, [0]
            ))
    }
}

struct HostFactsTests {
    @Test(arguments: [
        ("Python 3.11.7", "3.11.7"), ("openjdk version \"17.0.15\" 2025-04-15", "17.0.15"), ("v20.20.2", "20.20.2"),
        ("GNU bash, version 5.2.15(1)-release (x86_64-pc-linux-gnu)", "5.2.15"),
        ("ruby 3.1.2p20 (2022-04-12)", "3.1.2"),
        ("PHP 8.2.29 (cli) (built: Jul  3 2025)", "8.2.29")
    ])
    func versionIsTheFirstDottedNumber(_ text: String, _ expected: String) {
        #expect(HostFacts.version(in: text) == expected)
    }

    @Test func noVersionInText() { #expect(HostFacts.version(in: "command not found 42") == nil) }

    @Test func givenEnvsTakeTheDetectedVersion() {
        var m = Machine(name: "w")
        m.envs = ["php", "python3"]
        m.detectedEnvs = ["bash 5.2.15", "python3 3.11.7"]
        #expect(m.allEnvs == ["php", "python3 3.11.7", "bash 5.2.15"])
    }
}
