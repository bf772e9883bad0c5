import ArgumentParser
import MariaDB
import OctoCore

struct Register: OctoCommand {
    static let configuration = CommandConfiguration(
        abstract: "Heartbeat this machine: insert or update it with its load and environments.",
        discussion: """
            Run from cron every minute on every worker. Flags given once are remembered: a later \
            plain `octo register` keeps the groups, environments, slots and state. Without --slots, \
            slots follow the CPU count. A removed machine stays removed until --active.
            """
    )
    @Option(name: .customLong("group"), help: ArgumentHelp("A group this machine belongs to (repeatable; replaces the remembered list).", valueName: "name"))
    var groups: [String] = []
    @Option(help: ArgumentHelp("Runtime environments, comma list (e.g. php,python3,java); replaces the remembered list.", valueName: "list"))
    var env: String?
    @Option(help: "Runs this machine may hold at once (default: its CPU count).") var slots: Int?
    @Flag(help: "Keep heartbeating but take no new work.") var drain = false
    @Flag(help: "Deregister: its queued runs are re-routed; its history stays.") var remove = false
    @Flag(help: "Take work again after --drain or --remove.") var active = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        for g in groups where !Names.isValidName(g) {
            throw ValidationError("invalid group '\(g.quotedForMessage)': expected \(Names.nameRule)")
        }
        if let env {
            for e in env.split(separator: ",", omittingEmptySubsequences: false) where !Names.isValidName(String(e)) {
                throw ValidationError("invalid environment '\(String(e).quotedForMessage)' in --env '\(env.quotedForMessage)': expected a comma list of \(Names.nameRule)")
            }
        }
        if let slots, !(1...1024).contains(slots) { throw ValidationError("invalid slots '\(slots)': expected a whole number from 1 to 1024") }
        if [drain, remove, active].filter({ $0 }).count > 1 { throw ValidationError("--drain, --remove and --active exclude each other") }
    }

    func run(_ context: Context) throws {
        var r = MachineStore.Registration()
        if !groups.isEmpty { r.groups = groups }
        r.envs = env.map { $0.split(separator: ",").map(String.init) }
        r.slots = slots
        r.state = drain ? "draining" : remove ? "removed" : active ? "active" : nil
        let db = try context.database()
        let m = try db.retrying { db in try MachineStore.register(db, name: context.config.machine, r, user: currentUserName()) }
        if global.json {
            try Output.json(JSON.object(["name": .string(m.name), "state": .string(m.state), "groups": .array(m.groups.map(JSON.string)),
                                         "envs": .array(m.allEnvs.map(JSON.string)), "slots": .int(Int64(m.slots))]))
            return
        }
        if m.state == "removed" && !remove { Output.warning("machine '\(m.name)' is removed and takes no work; octo register --active brings it back") }
        if global.verbose {
            Output.line("\(m.name): \(m.state), slots \(m.slots), groups \(m.groups.joined(separator: ",")), envs \(m.allEnvs.joined(separator: ","))")
        }
    }
}
