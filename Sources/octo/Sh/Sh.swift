import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct Sh: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sh",
        abstract: "Manage jobs by hand: add, edit, show, list, pause, settings, export/apply.",
        subcommands: [
            ShAdd.self, ShEdit.self, ShRm.self, ShShow.self, ShLs.self, ShNext.self, ShPause.self, ShResume.self,
            ShRun.self, ShPass.self, ShBackfill.self, ShGraph.self, ShStatus.self, ShKill.self, ShRuns.self,
            ShTrend.self, ShLog.self, ShAlerts.self, ShAudit.self, ShMetrics.self,
            ShSettings.self,
            ShExport.self,
            ShApply.self, ShMachines.self, ShUser.self
        ]
    )
}

/// A flag for every job attribute but the name, named as in `Job.attributes`
/// (`--retry-delay` for `retry_delay`). Values are checked by OctoCore. Each flag
/// takes the next word whatever it looks like, so `--timeout -5m` is refused as
/// an invalid timeout that names `-5m`, not as a flag without a value.
struct JobAttributeOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: help("command")) var command: String?
    @Option(parsing: .unconditional, help: help("schedule")) var schedule: String?
    @Option(parsing: .unconditional, help: help("needs")) var needs: String?
    @Option(parsing: .unconditional, help: help("timezone")) var timezone: String?
    @Option(parsing: .unconditional, help: help("owner")) var owner: String?
    @Option(parsing: .unconditional, help: help("user")) var user: String?
    @Option(parsing: .unconditional, help: help("target")) var target: String?
    @Option(parsing: .unconditional, help: help("strategy")) var strategy: String?
    @Option(parsing: .unconditional, help: help("concurrency")) var concurrency: String?
    @Option(parsing: .unconditional, help: help("max_parallel")) var maxParallel: String?
    @Option(parsing: .unconditional, help: help("misfire")) var misfire: String?
    @Option(parsing: .unconditional, help: help("timeout")) var timeout: String?
    @Option(parsing: .unconditional, help: help("warn_after")) var warnAfter: String?
    @Option(parsing: .unconditional, help: help("retries")) var retries: String?
    @Option(parsing: .unconditional, help: help("retry_delay")) var retryDelay: String?
    @Option(parsing: .unconditional, help: help("ok_codes")) var okCodes: String?
    @Option(parsing: .unconditional, help: help("alert_level")) var alertLevel: String?
    @Option(parsing: .unconditional, help: help("alert_to")) var alertTo: String?
    @Option(parsing: .unconditional, help: help("paused")) var paused: String?

    static func help(_ name: String) -> ArgumentHelp {
        let a = Job.attribute(name)!
        return ArgumentHelp(a.help + (a.defaultText.isEmpty ? "" : " (default: \(a.defaultText))"), valueName: a.name)
    }

    /// The attributes given on the command line, in the table's order.
    var given: [(Job.Attribute, String)] {
        let values: [String: String?] = [
            "command": command, "schedule": schedule, "needs": needs, "timezone": timezone, "owner": owner,
            "user": user,
            "target": target,
            "strategy": strategy, "concurrency": concurrency, "max_parallel": maxParallel, "misfire": misfire,
            "timeout": timeout, "warn_after": warnAfter,
            "retries": retries, "retry_delay": retryDelay, "ok_codes": okCodes, "alert_level": alertLevel,
            "alert_to": alertTo,
            "paused": paused
        ]
        return Job.attributes.compactMap { a in values[a.name].flatMap { $0 }.map { (a, $0) } }
    }

    /// Applies the given attributes to `job`; the first invalid one throws.
    func apply(to job: inout Job) throws {
        for (a, v) in given { try a.set(&job, v) }
    }
}

// MARK: - Shared presentation
