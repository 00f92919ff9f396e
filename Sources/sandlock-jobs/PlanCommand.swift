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
              sandlock-jobs plan --explain jobs/wordcount.yaml    # which stages a run would reuse, and why
              sandlock-jobs plan --executor slurm jobs/wordcount.yaml   # the sbatch scripts, tested
            """
    )

    @Argument(help: "The manifest file.")
    var file: String

    @Flag(help: "Print the plan as JSON on stdout.")
    var json = false

    @Flag(help: "Say for each stage whether a run now would reuse it from the cache or run it, and why.")
    var explain = false

    @Option(help: ArgumentHelp("The cache store (default: <workdir>/.sandlock-jobs/cache).", valueName: "DIR"))
    var cacheDir: String?

    @Option(help: "slurm: print the sbatch script of every job and what it waits for, and (when Slurm answers) sbatch --test-only's verdict on each.")
    var executor: Executor = .local

    @OptionGroup(title: "Slurm") var slurm: SlurmJobArguments

    func run() throws {
        let plan = try loadPlan(file)
        if executor == .slurm {
            let directory = RunDirectory(path: RunDirectory.runsRoot(workdir: plan.workdir) + "/<run-id>")
            let run = SlurmRun(plan: plan, options: RunOptions(jobs: 1), slurm: slurm.options, directory: directory)
            do {
                print(try run.preview(test: SlurmRun.reachable), terminator: "")
            } catch {
                throw fail("--executor slurm: \(error)")
            }
            return
        }
        guard explain else {
            print(json ? plan.json.rendered() : plan.text, terminator: "")
            return
        }
        let options = RunOptions(jobs: 1, cache: CacheOptions(directory: cacheDir))
        let runner = Runner(plan: plan, options: options, directory: RunDirectory(path: RunDirectory.stateDirectory(workdir: plan.workdir)))
        print(runner.explainPlan(), terminator: "")
    }
}
