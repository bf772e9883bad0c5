import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

#if canImport(Glibc)
    import Glibc
#endif

struct CursorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cursor",
        abstract: "A job's progress marker (a time, an offset, an id) that its next run starts from.",
        discussion: """
            Inside a run, `octo cursor set VALUE` records the run's progress: the local cursor file \
            first, then the database, fenced by the run's lease. The next run gets the last value as \
            OCTO_CURSOR and {cursor}. Values: UTF-8 text of at most 1024 bytes.
            """,
        subcommands: [CursorGet.self, CursorSet.self, CursorSyncCommand.self, CursorHistory.self]
    )
}
