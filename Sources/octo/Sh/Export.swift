import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShExport: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "All jobs as YAML on stdout, by name (the format octo sh apply reads).")
    @OptionGroup var global: GlobalOptions

    func run(_ context: Context) throws {
        let jobs = try JobStore.all(context.database())
        if global.json {
            let zone = try context.settings().defaultTimezone
            try Output.json(JSON.array(jobs.map { .object($0.definition.json(defaultZone: zone)) }))
            return
        }
        print(JobFile.render(jobs), terminator: "")
    }
}
