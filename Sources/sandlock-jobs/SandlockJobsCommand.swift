import ArgumentParser
import SandlockCore

@main
struct SandlockJobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandlock-jobs",
        abstract: "Run declarative YAML jobs of sandboxed stages, pipelines and fan-outs.",
        discussion: """
            A manifest (version 1) names stages, their commands, the stages they need and the \
            sandlock policy each process runs under. See docs/manifest.md.

            Exit codes: 0 success, 1 a stage failed (run), 64 usage error, 65 invalid manifest, \
            66 manifest or run not found, 130 interrupted (run).
            """,
        version: SandlockVersion.current,
        subcommands: [
            ValidateCommand.self, PlanCommand.self, GraphCommand.self, SchemaCommand.self, RunCommand.self,
            RunsCommand.self, ShowCommand.self, LogsCommand.self, DiffCommand.self, CommitCommand.self,
            DiscardCommand.self, RecoverCommand.self, ResumeCommand.self, CacheCommand.self,
            ExecCommand.self, StatusCommand.self, CancelCommand.self,
        ]
    )
}
