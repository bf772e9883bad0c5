import ArgumentParser
import MariaDB
import OctoCore
import OctoTime

struct ShMetrics: OctoCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Print octo's metrics in the Prometheus text format (for node_exporter's textfile collector).",
        discussion: """
            Per job, per machine and fleet-wide; the names and their meaning are in docs/reference.md. \
            From cron, write to a temporary file and rename it, so the collector never reads half a file:
              * * * * * octo sh metrics > /var/lib/node_exporter/octo.prom.$$ && mv /var/lib/node_exporter/octo.prom.$$ /var/lib/node_exporter/octo.prom
            """)
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if global.json {
            throw ValidationError(
                "--json: octo sh metrics prints the Prometheus text format only (octo sh ls --json has the jobs)")
        }
    }

    func run(_ context: Context) throws {
        let db = try context.database()
        let snapshot = try MetricsStore.snapshot(db, machineTTL: try context.settings().machineTTL)
        try Output.raw(Metrics.renderBytes(snapshot))
    }
}
