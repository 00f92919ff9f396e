import ArgumentParser

@main
struct SandlockJobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandlock-jobs",
        abstract: "Run declarative YAML jobs of sandboxed stages, pipelines and fan-outs.",
        discussion: """
            A manifest (version 1) names stages, their commands, the stages they need and the \
            sandlock policy each process runs under. See docs/manifest.md.

            Exit codes: 0 success, 64 usage error, 65 invalid manifest, 66 manifest not found, \
            69 feature not available.
            """,
        version: "0.1.0",
        subcommands: [
            ValidateCommand.self, PlanCommand.self, GraphCommand.self, SchemaCommand.self, RunCommand.self,
        ]
    )
}
