import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShResume: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Schedule a paused job again.",
        discussion: "The next fire is computed from now: fires that fell while the job was paused are not caught up."
    )
    @Argument(help: "The job to resume.") var name: String
    @OptionGroup var global: GlobalOptions
    func run(_ context: Context) throws { try setPaused(context, name, false, global) }
}
