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

            Progress and the summary go to stderr; --json prints the run record on stdout.

            Examples:
              sandlock-jobs run jobs/wordcount.yaml
              sandlock-jobs run -j 4 --keep-going --junit report.xml jobs/wordcount.yaml
              sandlock-jobs run --only count jobs/wordcount.yaml   # and what it needs
              sandlock-jobs run --from report --progress plain jobs/wordcount.yaml
              sandlock-jobs run --dry-run jobs/wordcount.yaml      # what would change
              sandlock-jobs run --executor slurm jobs/wordcount.yaml   # as Slurm jobs (see README "Slurm")

            Exit codes: 0 every stage succeeded, 1 a stage failed, 64 usage error, 65 invalid \
            manifest, 66 manifest not found, 130 interrupted.
            """
    )

    enum ProgressOption: String, ExpressibleByArgument, CaseIterable {
        case auto, tty, plain, json
    }

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

    @Option(help: "Progress display: auto (live on a terminal, else plain), tty, plain or json (JSON Lines).")
    var progress: ProgressOption = .auto

    @Option(help: ArgumentHelp("Write a JUnit XML report (one test case per stage and shard).", valueName: "FILE"))
    var junit: String?

    @Flag(help: "Print the run record (with every stage's result) as JSON on stdout.")
    var json = false

    @Flag(help: "Commit nothing: every write is copy-on-write, stages see their needs' changes, and each stage's change set is printed.")
    var dryRun = false

    @Option(help: ArgumentHelp("Where copy-on-write workspaces live (default: $XDG_RUNTIME_DIR/sandlock-cow or /var/tmp/sandlock-cow-UID); outside every written tree.", valueName: "DIR"))
    var fsStorage: String?

    @OptionGroup(title: "Slurm") var slurm: SlurmArguments

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1.") }
    }

    func run() throws {
        let signals = SignalWatcher.install()
        let plan = try loadPlan(file)
        do {
            _ = try Runner.selection(of: plan, only: only, from: from)
        } catch {
            throw fail("\(error)", ExitCode.validationFailure)
        }
        // Refused before a run directory exists, so a refusal leaves no empty run behind.
        if slurm.executor == .slurm { try checkSlurm(plan, dryRun: dryRun, runDir: runDir, slurm: slurm) }
        let directory: RunDirectory
        do {
            directory = try RunDirectory.create(workdir: plan.workdir, explicit: runDir)
        } catch {
            throw fail("cannot create the run directory: \(error)")
        }
        let options = RunOptions(
            jobs: jobs ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), keepGoing: keepGoing, only: only, from: from,
            runDirectory: runDir, commandLine: CommandLine.arguments, dryRun: dryRun, workspaceStorage: fsStorage)
        let mode: ProgressPrinter.Mode = switch progress {
        case .auto: ProgressPrinter.automatic()
        case .tty: .tty
        case .plain: .plain
        case .json: .json
        }
        let environment = getenv("NO_COLOR").map { ["NO_COLOR": String(cString: $0)] } ?? [:]
        let printer = ProgressPrinter(mode: mode, environment: environment)
        if mode == .tty { NamedThread.start("progress-ticker") { printer.tick() } }

        let record: RunRecord
        if slurm.executor == .slurm {
            record = try runOnSlurm(plan, options: options, slurm: slurm, directory: directory, printer: printer, signals: signals)
            if slurm.detach { return }
        } else {
            let runner = Runner(plan: plan, options: options, directory: directory, events: printer.handle)
            record = runBlocking { () async -> RunRecord in
                let task = Task { await runner.run() }
                signals.onSignal { _ in task.cancel() }
                return await task.value
            }
        }

        let summary = RunSummary(run: record, directory: directory)
        if mode != .json { printError("\n" + summary.text) }
        if let junit {
            do {
                try summary.writeJUnit(to: junit)
            } catch {
                printError("sandlock-jobs: error: --junit: \(error)\n")
            }
        }
        if json { print(summary.json, terminator: "") }
        switch record.status {
        case .succeeded: return
        case .interrupted: throw ExitCode(130)
        case .failed, .running: throw ExitCode.failure
        }
    }
}
