import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShMachines: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "machines", abstract: "Every machine: state, last seen, load, slots in use, groups, environments.",
        discussion: "A machine silent for longer than the machine_ttl setting shows as stale and gets no new work."
    )
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let statuses = try MachineStore.statuses(context.database(), ttl: context.settings().machineTTL)
        if global.json {
            try Output.json(
                JSON.array(
                    statuses.map { s in
                        let m = s.machine
                        return .object([
                            "name": .string(m.name), "state": .string(s.shownState), "last_seen_age_s": .double(s.age),
                            "load1": .double(m.load.0), "load5": .double(m.load.1), "load15": .double(m.load.2),
                            "cpus": .int(Int64(m.cpus)),
                            "slots": .int(Int64(m.slots)), "slots_in_use": .int(Int64(s.slotsInUse)),
                            "groups": .array(m.groups.map(JSON.string)), "envs": .array(m.allEnvs.map(JSON.string)),
                            "user": .string(m.unixUser), "octo_version": .string(m.octoVersion)
                        ])
                    }))
            return
        }
        var t = Table(["NAME", "STATE", "LAST SEEN", "LOAD", "SLOTS", "GROUPS", "ENVS"])
        for s in statuses {
            let m = s.machine
            t.add([
                m.name, s.shownState, humanDuration(s.age) + " ago", String(format2(m.load.0)),
                "\(s.slotsInUse)/\(m.slots)",
                m.groups.isEmpty ? "-" : m.groups.joined(separator: ","),
                m.allEnvs.isEmpty ? "-" : m.allEnvs.joined(separator: ",")
            ])
        }
        Output.line(t.render())
    }

    func format2(_ v: Double) -> String {
        let c = Int((v * 100).rounded())
        return String(c / 100) + "." + String(c % 100 + 100).dropFirst()
    }
}
