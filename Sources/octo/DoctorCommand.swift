import ArgumentParser
import OctoCore
import OctoTime

struct DoctorCommand: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check configuration, connection, schema, privileges and clock.",
        discussion:
            "Exit code 0 when nothing failed (warnings allowed), 1 otherwise. With -q prints only what is not ok."
    )

    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let checks = OctoCore.Doctor.run(context.config)
        if global.json {
            try Output.json(checks)
        } else {
            for c in checks where !(global.quiet && c.status == .ok) {
                let mark = c.status.rawValue.padding(4)
                Output.line("\(mark)  \(c.name.padding(11)) \(c.detail)")
                if let fix = c.fix, c.status != .ok { Output.line("      \(String().padding(11)) fix: \(fix)") }
            }
        }
        if checks.contains(where: { $0.status == .fail }) { throw ExitCode.failure }
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
