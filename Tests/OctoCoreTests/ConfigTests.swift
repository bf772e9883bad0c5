import MariaDB
import OctoCore
import OctoTime
import TestSupport
import Testing

struct ConfigTests {
    @Test func octoGroupWinsOverClientGroupsWhateverTheOrder() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        for text in [
            "[client]\nuser = c\nport = 1111\n[octo]\nuser = o\n", "[octo]\nuser = o\n[client]\nuser = c\nport = 1111\n"
        ] {
            let file = dir.write("my.cnf", text)
            let c = try OctoConfig(defaultsFile: file, machine: nil, environment: [:])
            #expect(c.connection.user == "o")
            #expect(c.optionFiles.value("port") == "1111")
            #expect(c.connection.port == nil, "client-group values are left to libmariadb")
        }
    }

    /// A file written on Windows (CRLF line ends) is read line by line like any other (Swift reads "\r\n" as one
    /// character, so a plain split at "\n" saw one line and silently dropped every group after the first); a
    /// "file" that is a directory is refused, not read as empty.
    @Test func optionFilesWithCRLFLineEndsAndDirectories() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.write("my.cnf", "[client]\r\nuser = c\r\n[octo]\r\ndatabase = octo_other\r\nuser = o\r\n")
        let c = try OctoConfig(defaultsFile: file, machine: nil, environment: [:])
        #expect(c.database == "octo_other" && c.connection.user == "o")
        let e = #expect(throws: OctoError.self) { try OptionFiles(defaultsFile: dir.path, environment: [:]) }
        #expect(e?.exitCode == 2 && e?.message == "option file '\(dir.path)' cannot be read as a file")
    }

    @Test func environmentWinsOverFiles() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.write("my.cnf", "[client]\nhost = filehost\n[octo]\nuser = fileuser\ndatabase = filedb\n")
        let env = [
            "OCTO_DB_USER": "envuser", "OCTO_DB_NAME": "envdb", "OCTO_DB_PORT": "3307", "OCTO_DB_HOST": "envhost"
        ]
        let c = try OctoConfig(defaultsFile: file, machine: nil, environment: env)
        #expect(c.connection.user == "envuser")
        #expect(c.database == "envdb")
        #expect(c.connection.port == 3307)
        #expect(c.connection.host == "envhost")
        #expect(Set(c.environmentOverrides) == ["OCTO_DB_USER", "OCTO_DB_NAME", "OCTO_DB_PORT", "OCTO_DB_HOST"])
        let plain = try OctoConfig(defaultsFile: file, machine: nil, environment: [:])
        #expect(plain.database == "filedb")
        #expect(plain.connection.user == "fileuser")
    }

    /// `host = db1,db2:3307`: a list of servers in order, from the environment, `[octo]` or a client group.
    @Test func hostListsParsedInOrderAndBadEntriesNamed() throws {
        typealias H = ConnectionOptions.Host
        #expect(
            try OctoConfig.hostList("db1, db2:3307,[fd00::5]:3306,10.0.0.7")
                == [H("db1"), H("db2", port: 3307), H("fd00::5", port: 3306), H("10.0.0.7")])
        #expect(H("fd00::5", port: 3306).description == "[fd00::5]:3306" && H("db2", port: 1).description == "db2:1")
        for (text, entry) in [
            ("db1,,db2", ""), ("db1,db2:0", "db2:0"), ("db1:70000", "db1:70000"), ("db1:x,db2", "db1:x"),
            ("db 1,db2", "db 1"), ("[::1,db2", "[::1"), ("[::1]3306,db2", "[::1]3306"), ("db1,", "")
        ] {
            do {
                let list = try OctoConfig.hostList(text)
                Issue.record("\(text) was accepted as \(list)")
            } catch {
                #expect(error.message.hasPrefix("invalid host '\(entry)': expected name[:port]"), "\(error.message)")
                #expect(error.exitCode == 2)
            }
        }
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.write("my.cnf", "[client]\nhost = db1,db2:3307\nport = 3306\n")
        let fromClient = try OctoConfig(defaultsFile: file, machine: nil, environment: [:])
        #expect(fromClient.connection.hosts == [H("db1"), H("db2", port: 3307)] && fromClient.connection.host == nil)
        let env = try OctoConfig(defaultsFile: file, machine: nil, environment: ["OCTO_DB_HOST": "a:3310,b"])
        #expect(env.connection.hosts == [H("a", port: 3310), H("b")])
        let one = try OctoConfig(defaultsFile: file, machine: nil, environment: ["OCTO_DB_HOST": "solo:3311"])
        #expect(one.connection.hosts.isEmpty && one.connection.host == "solo" && one.connection.port == 3311)
        #expect(throws: OctoError.self) {
            try OctoConfig(defaultsFile: file, machine: nil, environment: ["OCTO_DB_HOST": "a,,b"])
        }
        // one `name:port` in a client group is that server and port (libmariadb would take it for a host name:
        // scripts/fleet's workers reached no server); a bare IPv6 address is left to libmariadb
        let single = try OctoConfig(
            defaultsFile: dir.write("single.cnf", "[client]\nhost = 10.1.2.1:3312\n"), machine: nil, environment: [:])
        #expect(
            single.connection.hosts.isEmpty && single.connection.host == "10.1.2.1" && single.connection.port == 3312)
        let v6 = try OctoConfig(
            defaultsFile: dir.write("v6.cnf", "[client]\nhost = ::1\n"), machine: nil, environment: [:])
        #expect(v6.connection.hosts.isEmpty && v6.connection.host == nil)
    }

    /// The read timeout (and with it the lock wait, kept below it) from `[octo] read_timeout` or the environment.
    @Test func readTimeoutFromFileOrEnvironment() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.write("my.cnf", "[octo]\nread_timeout = 6\n")
        let c = try OctoConfig(defaultsFile: file, machine: nil, environment: [:])
        #expect(c.connection.readTimeout == 6 && c.connection.lockWait == 4)
        let e = try OctoConfig(defaultsFile: file, machine: nil, environment: ["OCTO_DB_READ_TIMEOUT": "90"])
        #expect(e.connection.readTimeout == 90 && e.connection.lockWait == ConnectionOptions.lockWaitSeconds)
        let d = try OctoConfig(defaultsFile: nil, machine: nil, environment: [:])
        #expect(d.connection.readTimeout == 30 && d.connection.lockWait == 20)
    }

    @Test func defaultsFileFromEnvironmentAndDefaults() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.write("x.cnf", "[client]\nuser = u\n")
        let c = try OctoConfig(
            defaultsFile: nil, machine: nil,
            environment: [
                "OCTO_DEFAULTS_FILE": file, "OCTO_MACHINE": "m-1", "XDG_STATE_HOME": "/x/state", "HOME": "/home/h"
            ])
        #expect(c.optionFiles.files == [file])
        #expect(c.database == "octo")
        #expect(c.machine == "m-1")
        #expect(c.stateDirectory == "/x/state/octo")
        let d = try OctoConfig(
            defaultsFile: file, machine: "flag-wins",
            environment: ["OCTO_MACHINE": "env", "HOME": "/home/h", "OCTO_STATE_DIR": "/s"])
        #expect(d.machine == "flag-wins")
        #expect(d.stateDirectory == "/s")
        let e = try OctoConfig(defaultsFile: file, machine: nil, environment: ["HOME": "/home/h"])
        #expect(e.stateDirectory == "/home/h/.local/state/octo")
    }

    @Test func includesAndQuotingFollowLibmariadb() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        dir.write("inc.cnf", "[octo]\npassword = \"p\\sw d\"\n")
        let file = dir.write(
            "my.cnf", "# comment\n[mysqld]\nport = 9\n[client]\n!include \(dir.path)/inc.cnf\nsocket=/a b\n")
        let c = try OctoConfig(defaultsFile: file, machine: nil, environment: [:])
        #expect(c.connection.password == "p w d")
        #expect(c.optionFiles.value("socket") == "/a b")
        #expect(c.optionFiles.value("port") == nil, "[mysqld] is not read")
        #expect(c.optionFiles.files.count == 2)
    }

    @Test func passwordInAReadableFileIsWarnedAbout() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let open = dir.write("open.cnf", "[client]\npassword = hunter2\n", mode: 0o644)
        let c = try OctoConfig(defaultsFile: open, machine: nil, environment: [:])
        #expect(c.warnings.count == 1)
        #expect(c.warnings.first?.contains(open) == true)
        #expect(c.warnings.first?.contains("hunter2") == false)
        let closed = dir.write("closed.cnf", "[client]\npassword = hunter2\n", mode: 0o600)
        #expect(try OctoConfig(defaultsFile: closed, machine: nil, environment: [:]).warnings.isEmpty)
        let nopass = dir.write("nopass.cnf", "[client]\nuser = x\n", mode: 0o644)
        #expect(try OctoConfig(defaultsFile: nopass, machine: nil, environment: [:]).warnings.isEmpty)
    }

    @Test(arguments: [
        ("[client\nuser=x\n", "line 1"),
        ("user = x\n", "comes before any [group]")
    ])
    func malformedOptionFileIsBadInput(_ text: String, _ expected: String) throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.write("bad.cnf", text)
        let e = #expect(throws: OctoError.self) { try OctoConfig(defaultsFile: file, machine: nil, environment: [:]) }
        #expect(e?.exitCode == 2)
        #expect(e?.message.contains(file) == true)
        #expect(e?.message.contains(expected) == true)
    }

    @Test(arguments: [
        (["OCTO_DB_PORT": "abc"], "port 'abc'"),
        (["OCTO_DB_PORT": "70000"], "port '70000'"),
        (["OCTO_DB_READ_TIMEOUT": "1"], "read_timeout '1'"),
        (["OCTO_DB_READ_TIMEOUT": "30s"], "read_timeout '30s'"),
        (["OCTO_MACHINE": "has space"], "machine name 'has space'"),
        (["OCTO_MACHINE": String(repeating: "m", count: 65)], "machine name"),
        (["OCTO_DB_NAME": "octo`; drop"], "database name"),
        (["OCTO_DEFAULTS_FILE": "/nonexistent/my.cnf"], "'/nonexistent/my.cnf' does not exist")
    ])
    func badEnvironmentIsBadInput(_ env: [String: String], _ expected: String) {
        let e = #expect(throws: OctoError.self) { try OctoConfig(defaultsFile: nil, machine: nil, environment: env) }
        #expect(e?.exitCode == 2)
        #expect(e?.message.contains(expected) == true, "\(e?.message ?? "")")
    }

    /// libmariadb reads the file itself; octo re-asserts `[octo]`: a broken
    /// socket in `[client]` is overridden by the good one in an earlier `[octo]`.
    @Test(.database) func octoGroupWinsInARealConnection() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let real = try #require(
            TestDatabase.defaultsFile.flatMap { try? OptionFiles(defaultsFile: $0, environment: [:]) })
        let socket = try #require(real.value("socket"))
        let user = real.value("user") ?? currentUserName()
        let file = dir.write(
            "my.cnf", "[octo]\nsocket = \(socket)\n[client]\nsocket = /nonexistent/x.sock\nuser = \(user)\n")
        let c = try OctoConfig(defaultsFile: file, machine: nil, environment: ["OCTO_DB_NAME": "information_schema"])
        let db = try c.connect()
        defer { db.close() }
        #expect(try db.query("SELECT 1 AS one").first?.decode("one", as: Int.self) == 1)

        // and the environment beats both
        let broken = dir.write("broken.cnf", "[octo]\nsocket = /nonexistent/y.sock\n[client]\nuser = \(user)\n")
        let env = ["OCTO_DB_NAME": "information_schema", "OCTO_DB_SOCKET": socket]
        let db2 = try OctoConfig(defaultsFile: broken, machine: nil, environment: env).connect()
        db2.close()
        #expect(throws: MariaDBError.self) {
            try OctoConfig(defaultsFile: broken, machine: nil, environment: ["OCTO_DB_NAME": "information_schema"])
                .connect()
        }
    }
}
