import ArgumentParser
import SandlockJobs

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show the resolved plan: stages in order, levels, fan-out sizes, effective policies.",
        discussion: """
            Policies are shown merged (extends applied), paths absolute. A `glob:` or `lines:` \
            fan-out whose input does not exist yet is shown as "decided at run time". Nothing runs.

            Examples:
              sandlock-jobs plan jobs/wordcount.yaml
              sandlock-jobs plan --json jobs/wordcount.yaml | jq '.stages[].name'
            """
    )

    @Argument(help: "The manifest file.")
    var file: String

    @Flag(help: "Print the plan as JSON on stdout.")
    var json = false

    func run() throws {
        let plan = try loadPlan(file)
        print(json ? plan.json.rendered() : plan.text, terminator: "")
    }
}
