import ArgumentParser

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a manifest (not available yet).",
        discussion: """
            The runner comes in a later change. For now `run` checks the manifest like \
            `validate` (exit 65 when it is invalid) and then stops with exit 69. Use `plan` \
            to see what would run.
            """
    )

    @Argument(help: "The manifest file.")
    var file: String

    func run() throws {
        _ = try loadPlan(file)
        printError("sandlock-jobs: error: run: not available yet (the runner is not built); 'sandlock-jobs plan \(file)' shows what would run\n")
        throw Exit.unavailable
    }
}
