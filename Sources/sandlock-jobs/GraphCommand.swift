#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SandlockJobs

struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Print the stage graph as Mermaid or Graphviz dot.",
        discussion: """
            Edges point from a stage to the stages that need it; dashed edges are `if: failure`, \
            dotted ones `if: always`. Map stages show their fan-out size. Given a run instead of \
            a manifest, each stage is coloured by how it ended (green succeeded, red failed, \
            orange conflict, grey cancelled or skipped, white did not end).

            Examples:
              sandlock-jobs graph jobs/wordcount.yaml > graph.mmd
              sandlock-jobs graph --format dot jobs/wordcount.yaml | dot -Tsvg > graph.svg
              sandlock-jobs graph latest --in jobs/wordcount.yaml   # the last run, by status
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case mermaid, dot
    }

    @Argument(help: "The manifest file, or a run (`latest`, an id or a run directory).")
    var file: String

    @Option(help: "Output format.")
    var format: Format = .mermaid

    @OptionGroup var location: RunsLocation

    func run() throws {
        var info = stat()
        let isManifest = stat(file, &info) == 0 ? info.st_mode & S_IFMT != S_IFDIR : file.hasSuffix(".yaml") || file.hasSuffix(".yml")
        if isManifest {
            let plan = try loadPlan(file)
            print(format == .dot ? plan.dot : plan.mermaid, terminator: "")
            return
        }
        let (_, record) = try location.find(file)
        let statuses = Dictionary(record.stages.compactMap { s in s.status.map { (s.name, $0) } }, uniquingKeysWith: { a, _ in a })
        print(format == .dot ? record.plan.dot(statuses: statuses) : record.plan.mermaid(statuses: statuses), terminator: "")
    }
}
