import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShSettings: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings", abstract: "Show or change cluster-wide settings.",
        discussion:
            "octo sh settings lists all; octo sh settings KEY prints one value; octo sh settings KEY VALUE changes it (checked first)."
    )
    @Argument(help: "A setting's name.") var key: String?
    @Argument(help: "Its new value.") var value: String?
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let db = try context.database()
        var settings = try SettingsStore.load(db)
        guard let key else {
            if global.json {
                try Output.json(
                    JSON.object(
                        Dictionary(
                            uniqueKeysWithValues: Settings.keys.map { ($0.name, JSON.string(settings.value(of: $0))) }))
                )
                return
            }
            var t = Table(["SETTING", "VALUE", "MEANING"])
            for k in Settings.keys { t.add([k.name, settings.value(of: k).quotedForMessage, k.help]) }
            Output.line(t.render())
            return
        }
        guard let k = Settings.key(key) else {
            throw OctoError.invalid("setting", key, expected: Settings.keys.map(\.name).joined(separator: ", "))
        }
        if let value {
            try settings.set(k, value)
            try SettingsStore.save(db, k, of: settings, by: context.actor)
        }
        if global.json {
            try Output.json(JSON.object([k.name: .string(settings.value(of: k))]))
            return
        }
        if value == nil || !global.quiet {
            if value == nil {
                Output.value(settings.value(of: k))
            } else {
                Output.line("\(k.name) = \(settings.value(of: k).escapedForTerminal)")
            }
        }
    }
}
