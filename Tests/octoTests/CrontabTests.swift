import OctoCore
import OctoTime
import Subprocess
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The crontab block against the real `crontab` command. It edits the
/// crontab of a throwaway account (octo-cron-test), run through `runuser`, so
/// no real user's crontab is touched; that needs root, which CI has.
@Suite(
    .enabled(
        if: getuid() == 0 || TestDatabase.environment["CI"] == "true", "needs root to use a throwaway account's crontab"
    ),
    .serialized, .bounded)
struct CrontabTests {
    static let user = "octo-cron-test"

    static func sh(_ command: String, input: String = "") async throws -> (Int32, String) {
        let r = try await Subprocess.run(
            .path("/bin/sh"), arguments: ["-c", command], input: .string(input),
            output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        let code: Int32 = if case .exited(let c) = r.terminationStatus { c } else { -1 }
        return (code, r.standardOutput + r.standardError)
    }

    static func ensureUser() async throws {
        let (id, _) = try await sh("id \(user)")
        if id != 0 { #expect(try await sh("useradd -M -s /usr/sbin/nologin \(user)").0 == 0) }
    }

    static func crontab() async throws -> String { try await sh("runuser -u \(user) -- crontab -l 2>/dev/null").1 }

    /// `octo register ARGS` as the account, in an environment without the runner's state directory (scripts/test
    /// sets one) plus `environment` (words for env(1)).
    static func octo(_ args: String, environment: String = "") async throws -> (Int32, String) {
        try await sh(
            "cd /tmp && runuser -u \(user) -- env -u OCTO_STATE_DIR -u XDG_STATE_HOME HOME=/tmp \(environment) "
                + "'\(OctoBinary.path)' register \(args)")
    }

    @Test func installReplaceUninstallKeepsOtherLinesByteForByte() async throws {
        try await Self.ensureUser()
        let original = "# my jobs\nMAILTO=ops@example.com\n0 3 * * * /usr/local/bin/backup.sh  # nightly\n\n"
        #expect(try await Self.sh("runuser -u \(Self.user) -- crontab -", input: original).0 == 0)
        #expect(try await Self.crontab() == original)

        var r = try await Self.octo("--install-crontab --machine w9")
        #expect(r.0 == 0, "\(r.1)")
        let installed = try await Self.crontab()
        #expect(installed.hasPrefix(original))
        let block = String(installed.dropFirst(original.count))
        let b = OctoBinary.path
        let expectedLines = [
            "* * * * * \(b) register --machine w9", "* * * * * \(b) produce --machine w9 && \(b) consume --machine w9",
            "* * * * * \(b) monitor --machine w9", "*/5 * * * * \(b) cursor sync --machine w9"
        ]
        #expect(block == ([CrontabBlock.begin] + expectedLines + [CrontabBlock.end]).joined(separator: "\n") + "\n")

        r = try await Self.octo("--install-crontab --machine w9")
        #expect(r.1.contains("up to date"))
        #expect(try await Self.crontab() == installed)

        // a line added after the block by hand survives a replacement in place
        #expect(
            try await Self.sh("runuser -u \(Self.user) -- crontab -", input: installed + "*/10 * * * * echo after\n").0
                == 0)
        r = try await Self.octo("--install-crontab --machine w10")
        #expect(r.0 == 0)
        let replaced = try await Self.crontab()
        #expect(
            replaced == original + block.replacingOccurrences("--machine w9", "--machine w10")
                + "*/10 * * * * echo after\n")

        r = try await Self.octo("--uninstall-crontab")
        #expect(r.0 == 0)
        #expect(try await Self.crontab() == original + "*/10 * * * * echo after\n")
        _ = try await Self.sh("runuser -u \(Self.user) -- crontab -r")
    }

    /// A state directory chosen here reaches cron's octo (it would use ~/.local/state/octo: another spool, other
    /// local cursors); connection variables, which a crontab line does not carry, are named. Fails on the old code
    /// (no assignment, no warning).
    @Test func theStateDirectoryReachesCronsOctoAndConnectionVariablesAreNamed() async throws {
        try await Self.ensureUser()
        _ = try await Self.sh("runuser -u \(Self.user) -- crontab -r")
        let r = try await Self.octo(
            "--install-crontab --machine w9", environment: "'OCTO_STATE_DIR=/tmp/octo 100%' OCTO_DB_NAME=elsewhere")
        #expect(r.0 == 0, "\(r.1)")
        #expect(r.1.contains("warning: OCTO_DB_NAME is set here, but cron's octo will not see it"), "\(r.1)")
        #expect(!r.1.contains("OCTO_STATE_DIR is set"), "\(r.1)")
        let text = try await Self.crontab()
        let b = OctoBinary.path
        let d = "OCTO_STATE_DIR='/tmp/octo 100\\%'"
        #expect(
            text.contains("\n* * * * * \(d) \(b) produce --machine w9 && \(d) \(b) consume --machine w9\n"), "\(text)")
        #expect(text.contains("\n* * * * * \(d) \(b) monitor --machine w9\n"), "\(text)")
        // what cron runs (its `\%` read as `%`) sets the variable for the command in /bin/sh
        let (_, seen) = try await Self.sh(
            "\(d.replacingOccurrences("\\%", "%")) /bin/sh -c 'printf %s \"$OCTO_STATE_DIR\"'")
        #expect(seen == "/tmp/octo 100%")
        // installed again where OCTO_STATE_DIR is not set: the lines lose it, and the warning says so
        let again = try await Self.octo("--install-crontab --machine w9")
        #expect(
            again.0 == 0 && again.1.contains("warning: the old lines set OCTO_STATE_DIR and these do not"), "\(again.1)"
        )
        #expect(try await !Self.crontab().contains("OCTO_STATE_DIR"))
        _ = try await Self.sh("runuser -u \(Self.user) -- crontab -r")
    }

    /// Bytes that are not UTF-8 in the user's own lines stay as they are: octo refuses to rewrite the crontab
    /// (the old code decoded them as U+FFFD and wrote that back).
    @Test func aCrontabThatIsNotUTF8IsLeftAsItIs() async throws {
        try await Self.ensureUser()
        let file = "/tmp/octo-cron-latin1-\(getpid())"
        #expect(try await Self.sh("printf '# jobs\\n# caf\\351\\n0 3 * * * x\\n' > \(file)").0 == 0)
        #expect(try await Self.sh("runuser -u \(Self.user) -- crontab - < \(file)").0 == 0)
        let r = try await Self.octo("--install-crontab")
        #expect(r.0 == 1, "\(r.1)")
        #expect(
            r.1.contains("the crontab is not UTF-8 text (a byte of another encoding, line 2); left it unchanged"),
            "\(r.1)")
        #expect(try await Self.sh("runuser -u \(Self.user) -- crontab -l | cmp - \(file)").0 == 0)
        _ = try await Self.sh("rm -f \(file); runuser -u \(Self.user) -- crontab -r")
    }

    @Test func installIntoAnEmptyCrontab() async throws {
        try await Self.ensureUser()
        _ = try await Self.sh("runuser -u \(Self.user) -- crontab -r")
        let r = try await Self.octo("--install-crontab")
        #expect(r.0 == 0, "\(r.1)")
        let text = try await Self.crontab()
        #expect(text.hasPrefix(CrontabBlock.begin + "\n* * * * * \(OctoBinary.path) register\n"))
        _ = try await Self.octo("--uninstall-crontab")
        #expect(try await Self.crontab() == "")
    }
}

struct CrontabBlockTests {
    /// crontab.example is the reference; the binary carries the same lines.
    @Test func crontabExampleMatchesTheBlock() throws {
        let me = #filePath
        let root = String(me[..<me.firstRange(of: "/Tests/")!.lowerBound])
        let example = String(decoding: try #require(readFileBytes(root + "/crontab.example")), as: UTF8.self)
        let lines = example.split(separator: "\n").filter { !$0.hasPrefix("#") }.map {
            $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        }
        let block = try CrontabBlock.render(
            binary: "octo", options: [], available: ["register", "produce", "consume", "monitor", "cursor"])
        let rendered = block.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
        #expect(lines == rendered)
    }

    @Test func quotingAndPlacement() throws {
        #expect(CrontabBlock.shellQuote("/opt/octo/bin/octo") == "/opt/octo/bin/octo")
        #expect(CrontabBlock.shellQuote("/my dir/it's") == "'/my dir/it'\\''s'")
        let block = try CrontabBlock.render(
            binary: "/b/octo", options: ["--defaults-file", "/etc/o ct/my.cnf"], available: ["register", "produce"])
        #expect(block.contains("* * * * * /b/octo register --defaults-file '/etc/o ct/my.cnf'\n"))
        #expect(!block.contains("produce"), "a line is left out unless all its subcommands exist")
        let noNewline = "0 1 * * * x"
        #expect(try CrontabBlock.install(block, into: noNewline) == noNewline + "\n" + block)
        #expect(try CrontabBlock.uninstall(from: CrontabBlock.install(block, into: "a\n")) == "a\n")
    }

    /// A path with a newline would write crontab lines of its own; a `%` is a newline to cron. Fails on the
    /// old code (the newline went into the block, the `%` unescaped).
    @Test func pathsCannotInjectCrontabLines() throws {
        for bad in ["/b/octo\n* * * * * evil", "/b/oc\rto", "/b/\u{1b}octo"] {
            let e = #expect(throws: OctoError.self) {
                try CrontabBlock.render(binary: bad, options: [], available: ["register"])
            }
            #expect(e?.exitCode == 2 && e?.message.contains("control character") == true, "\(e?.message ?? "")")
        }
        let e = #expect(throws: OctoError.self) {
            try CrontabBlock.render(
                binary: "/b/octo", options: ["--defaults-file", "/etc/my.cnf\n@reboot evil"], available: ["register"])
        }
        #expect(e?.exitCode == 2)
        let block = try CrontabBlock.render(
            binary: "/opt/100%/octo", options: ["--defaults-file", "/etc/%d.cnf"], available: ["register"])
        #expect(block.contains("* * * * * '/opt/100\\%/octo' register --defaults-file '/etc/\\%d.cnf'\n"), "\(block)")
        #expect(block.split(separator: "\n").count == 3)
    }

    /// Markers that do not pair: octo refuses to touch the crontab rather than guess (the old code appended a
    /// second block to a crontab with only a begin marker, and its uninstall then deleted the user's lines).
    @Test func unpairedMarkersAreRefused() throws {
        let block = try CrontabBlock.render(binary: "/b/octo", options: [], available: ["register"])
        for crontab in [
            "\(CrontabBlock.begin)\n0 1 * * * mine\n", "0 1 * * * mine\n\(CrontabBlock.end)\n",
            "\(CrontabBlock.end)\n0 1 * * * mine\n\(CrontabBlock.begin)\n", block + "0 1 * * * mine\n" + block
        ] {
            let i = #expect(throws: OctoError.self) { try CrontabBlock.install(block, into: crontab) }
            #expect(i?.message.contains("markers do not pair") == true)
            #expect(throws: OctoError.self) { try CrontabBlock.uninstall(from: crontab) }
        }
        #expect(
            try CrontabBlock.uninstall(from: "0 1 * * * mine\n" + block + "5 * * * * more\n")
                == "0 1 * * * mine\n5 * * * * more\n")
    }
}

extension String {
    func replacingOccurrences(_ a: String, _ b: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: a) {
            out += rest[..<r.lowerBound] + b
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
