import ArgumentParser
import OctoCore

#if canImport(Glibc)
    import Glibc
#endif

/// `octo web …`: the dashboard. The server lives in the companion executable `octo-web` beside `octo`, so the
/// binary cron starts every minute links none of it (see docs/web.md).
struct WebCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "web",
        abstract: "Serve the web dashboard (runs the companion executable octo-web).",
        discussion:
            "Options: --listen HOST:PORT (default 127.0.0.1:8080), --secure-cookies, --connections N, --defaults-file, --machine. See `octo-web serve --help`."
    )
    @Argument(parsing: .captureForPassthrough, help: "Options for octo-web serve.") var arguments: [String] = []
    func run() throws { try Companion.exec(["serve"] + arguments) }
}

/// `octo sh user add|ls|rm|passwd`: the dashboard's accounts (in octo-web, which holds the password hashing).
struct ShUser: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "The dashboard's accounts: add NAME --role viewer|operator|admin, ls, rm NAME, passwd NAME.",
        discussion: "Passwords are asked on the terminal or read from stdin's first line, never taken as arguments.")
    @Argument(parsing: .captureForPassthrough, help: "add, ls, rm or passwd and their arguments.")
    var arguments: [String] = []
    func run() throws { try Companion.exec(["user"] + arguments) }
}

enum Companion {
    /// Replaces this process by `octo-web` with `arguments`: OCTO_WEB_BINARY, else the one beside this binary.
    static func exec(_ arguments: [String]) throws -> Never {
        let env = processEnvironment()
        let path: String
        if let p = env["OCTO_WEB_BINARY"], !p.isEmpty {
            path = p
        } else {
            let me = RegisterCommand.executablePath()
            path = String(me[..<(me.lastIndex(of: "/") ?? me.startIndex)]) + "/octo-web"
        }
        guard access(path, X_OK) == 0 else {
            throw OctoError.failure(
                "the dashboard's executable is not at \(path) (install the octo package, or build it: swift build --product octo-web)"
            )
        }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        execv(path, argv)
        throw OctoError.failure("cannot start \(path): \(String(cString: strerror(errno)))")
    }
}
