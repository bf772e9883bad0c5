import ArgumentParser
import Hummingbird
import HummingbirdTLS
import MariaDB
import NIOCore
import NIOSSL
import OctoCore
import OctoWeb

#if canImport(Glibc)
    import Glibc
#endif

/// The dashboard's executable, started by `octo web` and `octo sh user` (the cron path links none of it).
@main
struct OctoWebCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "octo-web",
        abstract: "octo's web dashboard and its accounts (run as `octo web` and `octo sh user`).",
        subcommands: [Serve.self, User.self], defaultSubcommand: Serve.self)

    static func main() async {
        do {
            var command = try parseAsRoot()
            if var c = command as? any AsyncParsableCommand { try await c.run() } else { try command.run() }
        } catch let e as OctoError {
            fail(e.message, code: e.exitCode)
        } catch let e as MariaDBError {
            fail(e.description, code: 1)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                fail(fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "invalid usage", code: 2)
            }
            exit(withError: error)
        }
    }

    static func fail(_ message: String, code: Int32) -> Never {
        FileOutput.stderr("octo: " + message.escapedForTerminal + "\n")
        Glibc.exit(code)
    }
}

struct Connect: ParsableArguments {
    @Option(help: ArgumentHelp("Read only this MariaDB option file (also OCTO_DEFAULTS_FILE).", valueName: "path"))
    var defaultsFile: String?
    @Option(help: ArgumentHelp("This machine's name (also OCTO_MACHINE).", valueName: "name")) var machine: String?

    func config() throws -> OctoConfig {
        try OctoConfig(defaultsFile: defaultsFile, machine: machine, environment: processEnvironment())
    }

    /// A connection whose schema is the one this binary knows.
    func connect(_ config: OctoConfig) throws -> Connection {
        let db = try config.connect()
        try Migrator.requireCurrent(db, database: config.database)
        return db
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve the dashboard (loopback only unless --listen says otherwise).")
    @Option(help: ArgumentHelp("Address and port to listen on; port 0 picks a free one.", valueName: "host:port"))
    var listen = "127.0.0.1:8080"
    @Option(
        help: ArgumentHelp(
            "Serve HTTPS with this certificate (PEM, chain after it); with --tls-key.", valueName: "file"))
    var tlsCert: String?
    @Option(help: ArgumentHelp("The certificate's private key (PEM).", valueName: "file"))
    var tlsKey: String?
    @Flag(help: "Mark the session cookie Secure (set this behind a proxy that terminates TLS; implied by --tls-cert).")
    var secureCookies = false
    @Option(help: "Connections to the database.") var connections = 4
    @OptionGroup var connect: Connect

    func validate() throws {
        _ = try Listen.parse(listen)
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
        }
        if !(1...64).contains(connections) {
            throw ValidationError("invalid --connections '\(connections)': expected 1 to 64")
        }
    }

    func run() async throws {
        let (host, port) = try Listen.parse(listen)
        let tls = try tlsConfiguration()
        let config = try connect.config()
        try connect.connect(config).close()
        let pool = DatabasePool(size: connections) { try config.connect() }
        let web = try await WebApp(
            pool: pool, assets: try WebAssets.locate(environment: processEnvironment()),
            secureCookies: secureCookies || tls != nil)
        let scheme = tls == nil ? "http" : "https"
        let app = Application(
            router: web.router(),
            server: try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1(),
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                FileOutput.stderr(
                    "octo web: listening on \(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(bound)\n")
            })
        try await app.runService()
        pool.close()
    }
}

extension Serve {
    /// The certificate chain and key of --tls-cert and --tls-key (nil: plain HTTP); a file that is not there or
    /// holds no PEM certificate or key is bad input, named.
    func tlsConfiguration() throws -> TLSConfiguration? {
        guard let tlsCert, let tlsKey else { return nil }
        for (flag, path) in [("--tls-cert", tlsCert), ("--tls-key", tlsKey)] where access(path, R_OK) != 0 {
            throw OctoError.invalid(flag, path, expected: "a readable file (\(String(cString: strerror(errno))))")
        }
        let chain = (try? NIOSSLCertificate.fromPEMFile(tlsCert)) ?? []
        guard !chain.isEmpty else {
            throw OctoError.invalid("--tls-cert", tlsCert, expected: "a PEM file of certificates (the server's first)")
        }
        guard let key = try? NIOSSLPrivateKey(file: tlsKey, format: .pem) else {
            throw OctoError.invalid("--tls-key", tlsKey, expected: "a PEM private key")
        }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        // the key must be the certificate's (else every handshake would fail, long after the start)
        guard (try? NIOSSLContext(configuration: tls)) != nil else {
            throw OctoError.invalid("--tls-key", tlsKey, expected: "the private key of the certificate in --tls-cert")
        }
        return tls
    }
}

enum Listen {
    static func parse(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":") else {
            throw ValidationError("invalid --listen '\(text.quotedForMessage)': expected host:port")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("invalid --listen '\(text.quotedForMessage)': expected host:port with a port 0-65535")
        }
        return (host, port)
    }
}

struct User: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "The dashboard's accounts.",
        subcommands: [UserAdd.self, UserLs.self, UserRm.self, UserPasswd.self])
}

/// Who acts, in the audit trail: `unixuser@machine`.
func actor(_ config: OctoConfig) -> String { currentUserName() + "@" + config.machine }

struct UserAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add an account; the password is asked on the terminal or read from stdin (never an argument).")
    @Argument(help: "The account's name.") var name: String
    @Option(help: "viewer (reads), operator (also acts), admin (also manages accounts).") var role: String
    @OptionGroup var connect: Connect

    func validate() throws {
        do {
            try AccountStore.checkName(name)
            _ = try Role.parse(role)
        } catch let e as OctoError { throw ValidationError(e.message) }
    }

    func run() throws {
        let config = try connect.config()
        let password = try Password.read(confirm: true)
        let db = try connect.connect(config)
        defer { db.close() }
        try AccountStore.add(db, name, role: try Role.parse(role), password: password, by: actor(config))
        FileOutput.stdout("user \(name) added (\(role))\n")
    }
}

struct UserLs: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the accounts.")
    @Flag(help: "Machine-readable output.") var json = false
    @OptionGroup var connect: Connect

    func run() throws {
        let config = try connect.config()
        let db = try connect.connect(config)
        defer { db.close() }
        let users = try AccountStore.list(db)
        if json {
            let value = JSON.array(
                users.map {
                    .object([
                        "name": .string($0.account.name), "role": .string($0.account.role.rawValue),
                        "created_at": .string($0.created.iso8601)
                    ])
                })
            FileOutput.stdout(try value.text() + "\n")
            return
        }
        if users.isEmpty { FileOutput.stdout("no users; add one: octo sh user add NAME --role admin\n") }
        for u in users {
            FileOutput.stdout(
                "\(u.account.name.escapedForTerminal)\t\(u.account.role.rawValue)\t\(u.created.iso8601)\n")
        }
    }
}

struct UserRm: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an account and its sessions.")
    @Argument(help: "The account's name.") var name: String
    @OptionGroup var connect: Connect

    func run() throws {
        let config = try connect.config()
        let db = try connect.connect(config)
        defer { db.close() }
        try AccountStore.remove(db, name, by: actor(config))
        FileOutput.stdout("user \(name.escapedForTerminal) removed\n")
    }
}

struct UserPasswd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd", abstract: "Set an account's password (ends its sessions).")
    @Argument(help: "The account's name.") var name: String
    @OptionGroup var connect: Connect

    func run() throws {
        let config = try connect.config()
        let password = try Password.read(confirm: true)
        let db = try connect.connect(config)
        defer { db.close() }
        try AccountStore.setPassword(db, name, password: password, by: actor(config))
        FileOutput.stdout("password of \(name.escapedForTerminal) changed\n")
    }
}

/// A password from the terminal (echo off, asked twice) or, when stdin is not a terminal, its first line.
enum Password {
    static func read(confirm: Bool) throws -> String {
        if isatty(0) == 0 {
            guard let line = readLine(strippingNewline: true) else {
                throw OctoError.usage("no password on stdin (give it as the first line)")
            }
            try AccountStore.checkPassword(line)
            return line
        }
        let first = try ask("Password: ")
        try AccountStore.checkPassword(first)
        if confirm, try ask("Again: ") != first { throw OctoError.usage("the two passwords differ") }
        return first
    }

    static func ask(_ prompt: String) throws -> String {
        FileOutput.stderr(prompt)
        var old = termios()
        tcgetattr(0, &old)
        var quiet = old
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(0, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(0, TCSAFLUSH, &old)
            FileOutput.stderr("\n")
        }
        guard let line = readLine(strippingNewline: true) else { throw OctoError.usage("no password given") }
        return line
    }
}

enum FileOutput {
    static func stdout(_ s: String) { write(1, s) }
    static func stderr(_ s: String) { write(2, s) }
    static func write(_ fd: Int32, _ s: String) {
        var bytes = Array(s.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }
}
