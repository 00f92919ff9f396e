import ArgumentParser
import SandlockJobs

struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Print the stage graph as Mermaid or Graphviz dot.",
        discussion: """
            Edges point from a stage to the stages that need it; dashed edges are `if: failure`, \
            dotted ones `if: always`. Map stages show their fan-out size.

            Examples:
              sandlock-jobs graph jobs/wordcount.yaml > graph.mmd
              sandlock-jobs graph --format dot jobs/wordcount.yaml | dot -Tsvg > graph.svg
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case mermaid, dot
    }

    @Argument(help: "The manifest file.")
    var file: String

    @Option(help: "Output format.")
    var format: Format = .mermaid

    func run() throws {
        let plan = try loadPlan(file)
        print(format == .dot ? plan.dot : plan.mermaid, terminator: "")
    }
}
