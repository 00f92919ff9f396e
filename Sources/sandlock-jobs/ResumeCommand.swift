#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SandlockJobs

struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Continue a run that failed or was interrupted, in its own run directory.",
        discussion: """
            The run's manifest is planned again (so a fixed command is taken) and run into the \
            same run directory: a stage that succeeded there, and a shard of a map stage that \
            succeeded there, is kept when its cache key is unchanged; the rest runs. So a map \
            stage whose reducer failed reruns only the reducer (and any failed shards), and a \
            run killed mid-fan-out (Ctrl-C, SIGKILL of the runner, a reboot) runs only the \
            shards that had not finished. Shards of a map stage that writes the workdir \
            copy-on-write all run again: their changes were never committed. run.json keeps \
            the earlier attempts (`earlier_attempts`). Stages not kept may still be reused \
            from the cache (--no-cache runs them).

            Examples:
              sandlock-jobs resume latest --in jobs/wordcount.yaml
              sandlock-jobs resume 20261129T204548.043Z-dad8 --explain
            """
    )

    @Argument(help: ArgumentHelp("The run: an id (or a unique prefix of one), `latest`, or the path of a run directory.", valueName: "RUN"))
    var runName: String = "latest"

    @OptionGroup var location: RunsLocation

    @Option(name: [.customShort("j"), .long], help: "Sandboxes running at once (default: the number of CPUs).")
    var jobs: Int?

    @Flag(help: "Run every stage not downstream of a failure instead of stopping at the first one.")
    var keepGoing = false

    @OptionGroup var display: RunDisplayOptions

    @Option(help: ArgumentHelp("Where copy-on-write workspaces live (as for run).", valueName: "DIR"))
    var fsStorage: String?

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1.") }
    }

    func run() throws {
        let signals = SignalWatcher.install()
        let (directory, record) = try location.find(runName)
        if record.dryRun == true {
            throw fail("run \(record.id) was a dry run, which committed nothing: start a new run instead", ExitCode.validationFailure)
        }
        let plan = try loadPlan(record.manifest)
        let options = RunOptions(
            jobs: jobs ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), keepGoing: keepGoing,
            only: (record.selected ?? []).filter { plan.stage($0) != nil }, runDirectory: directory.path,
            commandLine: CommandLine.arguments, workspaceStorage: fsStorage,
            cache: try display.cacheOptions(for: plan, resume: true))
        try execute(plan, in: directory, options: options, display: display, signals: signals)
    }
}
