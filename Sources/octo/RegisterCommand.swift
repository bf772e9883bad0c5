import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

struct RegisterCommand: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Heartbeat this machine: insert or update it with its load and environments.",
        discussion: """
            Run from cron every minute on every worker. Flags given once are remembered: a later \
            plain `octo register` keeps the groups, environments, slots and state. Without --slots, \
            slots follow the CPU count. A removed machine stays removed until --active. \
            --install-crontab and --uninstall-crontab only edit the crontab (no database needed); \
            the block has only lines whose subcommands this octo has.
            """
    )
    @Option(
        name: .customLong("group"),
        help: ArgumentHelp(
            "A group this machine belongs to (repeatable; replaces the remembered list; --group '' for none).",
            valueName: "name"))
    var groups: [String] = []
    @Option(
        help: ArgumentHelp(
            "Runtime environments, comma list (e.g. php,python3,java); replaces the remembered list; --env '' for none.",
            valueName: "list"))
    var env: String?
    @Option(help: "Runs this machine may hold at once (default: its CPU count).") var slots: Int?
    @Flag(help: "Keep heartbeating but take no new work.") var drain = false
    @Flag(help: "Deregister: its queued runs are re-routed; its history stays.") var remove = false
    @Flag(help: "Take work again after --drain or --remove.") var active = false
    @Flag(
        help:
            "Write octo's lines (those of crontab.example) into this user's crontab, inside a marked block; again replaces the block."
    )
    var installCrontab = false
    @Flag(help: "Remove octo's block from this user's crontab.") var uninstallCrontab = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        // `--group ''` alone clears the list
        for g in groups where !Names.isValidName(g) && !(g.isEmpty && groups.count == 1) {
            throw ValidationError(
                "invalid group '\(g.quotedForMessage)': expected \(Names.nameRule)"
                    + (g.isEmpty ? " (--group '' alone clears the list)" : ""))
        }
        if let env, !env.isEmpty {
            for e in env.split(separator: ",", omittingEmptySubsequences: false) where !Names.isValidName(String(e)) {
                throw ValidationError(
                    "invalid environment '\(String(e).quotedForMessage)' in --env '\(env.quotedForMessage)': expected a comma list of \(Names.nameRule)"
                )
            }
        }
        // what the machine's row holds (groups_list 1,024 characters, envs 2,048): more is refused here, not by
        // the server after the connection
        if groups.joined(separator: ",").utf8.count > 1024 {
            throw ValidationError("invalid --group list: at most 1024 characters in all, names and commas")
        }
        if let env, env.utf8.count > 2048 {
            throw ValidationError("invalid --env '\(env.quotedForMessage)': at most 2048 characters")
        }
        if let slots, !(1...1024).contains(slots) {
            throw ValidationError("invalid slots '\(slots)': expected a whole number from 1 to 1024")
        }
        if [drain, remove, active].filter({ $0 }).count > 1 {
            throw ValidationError("--drain, --remove and --active exclude each other")
        }
        if installCrontab && uninstallCrontab {
            throw ValidationError("--install-crontab and --uninstall-crontab exclude each other")
        }
    }

    func run(_ context: Context) throws {
        if installCrontab || uninstallCrontab { return try maintainCrontab(context) }
        var r = MachineStore.Registration()
        if !groups.isEmpty { r.groups = groups == [""] ? [] : groups }
        r.envs = env.map { $0.split(separator: ",").map(String.init) }
        r.slots = slots
        r.state = drain ? .draining : remove ? .removed : active ? .active : nil
        let db = try context.database()
        let path = context.environment["PATH"] ?? "/usr/bin:/bin"
        let m = try db.retrying { db in
            try MachineStore.register(
                db, name: context.config.machine, r, user: currentUserName(), path: path, by: context.actor)
        }
        if global.json {
            try Output.json(
                JSON.object([
                    "name": .string(m.name), "state": .string(m.state.rawValue),
                    "groups": .array(m.groups.map(JSON.string)),
                    "envs": .array(m.allEnvs.map(JSON.string)), "slots": .int(Int64(m.slots))
                ]))
            return
        }
        if m.state == .removed && !remove {
            Output.warning("machine '\(m.name)' is removed and takes no work; octo register --active brings it back")
        }
        if global.verbose {
            Output.line(
                "\(m.name): \(m.state.rawValue), slots \(m.slots), groups \(m.groups.joined(separator: ",")), envs \(m.allEnvs.joined(separator: ","))"
            )
        }
    }
}

// MARK: - Crontab

extension RegisterCommand {
    /// Installs or removes octo's block in this user's crontab. Needs no database.
    func maintainCrontab(_ context: Context) throws {
        let current = try ChildProcess.run(["crontab", "-l"])
        let text: String
        if current.status == 0 {
            // rewriting bytes that are not UTF-8 would replace them with U+FFFD in the user's own lines
            guard let t = String(validating: current.stdout, as: UTF8.self) else {
                throw OctoError.failure(
                    "the crontab is not UTF-8 text (a byte of another encoding, line \(Self.firstInvalidLine(current.stdout))); "
                        + "left it unchanged: convert it with crontab -e, or add octo's lines by hand (crontab.example)"
                )
            }
            text = t
        } else if String(decoding: current.stderr, as: UTF8.self).contains("no crontab") {
            text = ""
        } else {
            throw OctoError.failure(
                "crontab -l failed: " + String(decoding: current.stderr, as: UTF8.self).trimmingWhitespace())
        }
        let updated: String
        if uninstallCrontab {
            updated = try CrontabBlock.uninstall(from: text)
        } else {
            let available = Set(Octo.configuration.subcommands.map { $0._commandName })
            // connection settings from the environment: a crontab line does not carry them (a password there
            // would be in every `ps`)
            for name in context.config.environmentOverrides {
                Output.warning(
                    "\(name) is set here, but cron's octo will not see it: put it in the option file's [octo] group")
            }
            let block = try CrontabBlock.render(
                binary: Self.executablePath(), options: crontabOptions(context),
                environment: crontabEnvironment(context), available: available)
            if let old = try CrontabBlock.installed(in: text), old.contains(" OCTO_STATE_DIR="),
                !block.contains(" OCTO_STATE_DIR=")
            {
                Output.warning(
                    "the old lines set OCTO_STATE_DIR and these do not (it is not set here): cron's octo now keeps its "
                        + "spool and local cursors in the default directory; set OCTO_STATE_DIR and run this again to keep the old one"
                )
            }
            updated = try CrontabBlock.install(block, into: text)
        }
        guard updated != text else {
            if !global.quiet {
                Output.line(uninstallCrontab ? "no octo block in the crontab" : "crontab block is up to date")
            }
            return
        }
        let w = try ChildProcess.run(["crontab", "-"], input: Array(updated.utf8))
        guard w.status == 0 else {
            throw OctoError.failure(
                "crontab - failed: " + String(decoding: w.stderr, as: UTF8.self).trimmingWhitespace())
        }
        if !global.quiet {
            Output.line(
                uninstallCrontab ? "removed the octo block from the crontab" : "installed the octo block in the crontab"
            )
        }
    }

    /// The options every cron line repeats: the machine name and option file
    /// when they were chosen (not defaulted).
    func crontabOptions(_ context: Context) -> [String] {
        var o: [String] = []
        if global.machine != nil || context.environment["OCTO_MACHINE"] != nil {
            o += ["--machine", context.config.machine]
        }
        if let f = context.config.connection.defaultsFile { o += ["--defaults-file", absolute(f)] }
        return o
    }

    /// The state directory, when this environment chose it (cron's has neither
    /// variable, so its octo would use `~/.local/state/octo` — another spool,
    /// other local cursors).
    func crontabEnvironment(_ context: Context) -> [(name: String, value: String)] {
        let chosen = ["OCTO_STATE_DIR", "XDG_STATE_HOME"].contains {
            context.environment[$0].map { !$0.isEmpty } ?? false
        }
        return chosen ? [("OCTO_STATE_DIR", absolute(context.config.stateDirectory))] : []
    }

    /// The 1-based line of the first byte that is not UTF-8.
    static func firstInvalidLine(_ bytes: [UInt8]) -> Int {
        var line = 1
        var start = 0
        for (i, b) in bytes.enumerated() where b == 0x0a {
            if String(validating: bytes[start..<i], as: UTF8.self) == nil { return line }
            line += 1
            start = i + 1
        }
        return line
    }

    func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return path }
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/"
            + path
    }

    /// This binary's absolute path (/proc/self/exe).
    static func executablePath() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        return n > 0
            ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }
}
