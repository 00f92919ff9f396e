#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SandlockCore
import SandlockJobs
import Synchronization

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a manifest: every stage, pipeline member, shard and reducer in its own sandbox.",
        discussion: """
            Stages start as soon as the stages they need have ended, up to --jobs sandboxes at \
            once. After the first failure no new stage starts (running ones finish) unless \
            --keep-going; `if: failure` and `if: always` stages still run. Ctrl-C kills every \
            sandbox, keeps the finished results and exits 130.

            Results and logs go to <workdir>/.sandlock-jobs/runs/<run-id>/ (`latest` points at \
            the newest run): run.json, stages/<stage>/{result.json,stdout.log,stderr.log}, \
            shards/<n>/ and shards.jsonl for fan-outs, members/<i>/ for pipelines.

            Stages that may write inside the workdir run over a copy-on-write workspace; \
            their changes are committed (journaled) when they succeed and thrown away when they \
            fail, unless `on_success`/`on_failure` say otherwise. --dry-run commits nothing and \
            prints what each stage would add, modify or delete (`sandlock-jobs diff` shows the \
            diff). Stages that do not need each other and change the same path are a conflict.

            A stage whose key (command, policy, environment, declared inputs' contents, the \
            keys of the stages it needs) has a stored result is not run: its outputs, logs and \
            record are put back (`cached`); map stages are cached per shard. --no-cache runs \
            everything; `sandlock-jobs resume RUN` continues a failed or interrupted run.

            Progress and the summary go to stderr; --json prints the run record on stdout.

            Examples:
              sandlock-jobs run jobs/wordcount.yaml
              sandlock-jobs run -j 4 --keep-going --junit report.xml jobs/wordcount.yaml
              sandlock-jobs run --only count jobs/wordcount.yaml   # and what it needs
              sandlock-jobs run --from report --progress plain jobs/wordcount.yaml
              sandlock-jobs run --dry-run jobs/wordcount.yaml      # what would change
              sandlock-jobs run --explain jobs/wordcount.yaml      # why each stage ran or was reused
              sandlock-jobs run --executor slurm jobs/wordcount.yaml   # as Slurm jobs (see README "Slurm")

            Exit codes: 0 every stage succeeded, 1 a stage failed, 64 usage error, 65 invalid \
            manifest, 66 manifest not found, 130 interrupted.
            """
    )

    @Argument(help: "The manifest file.")
    var file: String

    @Option(name: [.customShort("j"), .long], help: "Sandboxes running at once (default: the number of CPUs).")
    var jobs: Int?

    @Flag(help: "Run every stage not downstream of a failure instead of stopping at the first one.")
    var keepGoing = false

    @Option(help: ArgumentHelp("Run only this stage and the stages it needs (repeatable).", valueName: "STAGE"))
    var only: [String] = []

    @Option(help: ArgumentHelp("Run this stage and every stage downstream of it.", valueName: "STAGE"))
    var from: String?

    @Option(help: ArgumentHelp("Use this run directory instead of a new one under the workdir.", valueName: "DIR"))
    var runDir: String?

    @OptionGroup var display: RunDisplayOptions

    @Flag(help: "Commit nothing: every write is copy-on-write, stages see their needs' changes, and each stage's change set is printed.")
    var dryRun = false

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a parameter of the manifest's params: (repeatable).", valueName: "NAME=VALUE"))
    var parameters: [String] = []

    @Flag(help: "In the summary, list every changed path of a dry run (or kept stage) instead of counts per directory.")
    var verbose = false

    @Option(help: ArgumentHelp("Where copy-on-write workspaces live (default: $XDG_RUNTIME_DIR/sandlock-cow or /var/tmp/sandlock-cow-UID); outside every written tree.", valueName: "DIR"))
    var fsStorage: String?

    @Option(help: ArgumentHelp("Lines (old plus new) of one file above which changes.diff says \"N lines changed\" instead of its hunks.", valueName: "LINES"))
    var diffLimit = Workspace.defaultDiffLineLimit
    @OptionGroup(title: "Slurm") var slurm: SlurmArguments

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1.") }
        if diffLimit < 0 { throw ValidationError("--diff-limit must be at least 0.") }
        for parameter in parameters where !parameter.contains("=") || parameter.hasPrefix("=") {
            throw ValidationError("--set \(parameter): expected NAME=VALUE.")
        }
    }

    func run() throws {
        let signals = SignalWatcher.install()
        let overrides = Dictionary(parameters.map { p in
            let name = p.prefix { $0 != "=" }
            return (String(name), String(p.dropFirst(name.count + 1)))
        }, uniquingKeysWith: { _, last in last })
        let plan = try loadPlan(file, parameters: overrides)
        let selected: Set<String>?
        do {
            selected = try Runner.selection(of: plan, only: only, from: from)
        } catch {
            throw fail("\(error)", ExitCode.validationFailure)
        }
        let cache = try display.cacheOptions(for: plan)
        let secrets: [String: String]
        do {
            secrets = try Secrets.values(for: plan, stages: selected) { getenv($0).map { String(cString: $0) } }
        } catch {
            throw fail("\(error)", ExitCode.validationFailure)
        }
        // Sandboxes inherit the runner's environment: only the stages that list a secret
        // may get it, through `options.secrets`.
        for name in Set(plan.stages.flatMap(\.secrets)) { unsetenv(name) }
        // Refused before a run directory exists, so a refusal leaves no empty run behind.
        if slurm.executor == .slurm { try checkSlurm(plan, dryRun: dryRun, runDir: runDir, slurm: slurm) }
        let directory: RunDirectory
        do {
            directory = try RunDirectory.create(workdir: plan.workdir, explicit: runDir)
        } catch {
            throw fail("cannot create the run directory: \(error)")
        }
        var options = RunOptions(
            jobs: jobs ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), keepGoing: keepGoing, only: only, from: from,
            runDirectory: runDir, commandLine: CommandLine.arguments, dryRun: dryRun, workspaceStorage: fsStorage,
            cache: cache)
        options.diffLineLimit = diffLimit
        options.secrets = secrets
        try execute(plan, in: directory, options: options, display: display, signals: signals, verbose: verbose,
                    slurm: slurm.executor == .slurm ? slurm : nil)
    }
}
