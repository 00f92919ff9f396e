#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SandlockCore
import SandlockJobs

/// The flags `run` and `resume` share for showing a run and using the cache.
struct RunDisplayOptions: ParsableArguments {
    enum ProgressOption: String, ExpressibleByArgument, CaseIterable {
        case auto, tty, plain, json
    }

    @Option(help: "Progress display: auto (live on a terminal, else plain), tty, plain or json (JSON Lines).")
    var progress: ProgressOption = .auto

    @Option(help: ArgumentHelp("Write a JUnit XML report (one test case per stage and shard).", valueName: "FILE"))
    var junit: String?

    @Flag(help: "Print the run record (with every stage's result) as JSON on stdout.")
    var json = false

    @Flag(help: "Say for each stage why it ran or was reused (inputs, command, policy field, environment, upstream).")
    var explain = false

    @Flag(help: "Reuse nothing from the cache: every stage runs (what succeeds is still stored).")
    var noCache = false

    @Option(help: ArgumentHelp("Run this stage and every stage downstream of it even when the cache holds them (repeatable).", valueName: "STAGE"))
    var refresh: [String] = []

    @Option(help: ArgumentHelp("The cache store (default: <workdir>/.sandlock-jobs/cache); outside every written tree.", valueName: "DIR"))
    var cacheDir: String?

    /// The cache options these flags say; an unknown `--refresh` stage is a usage error.
    func cacheOptions(for plan: Plan, resume: Bool = false) throws -> CacheOptions {
        for stage in refresh where plan.stage(stage) == nil {
            throw fail("--refresh: no stage '\(stage)' in the manifest", ExitCode.validationFailure)
        }
        return CacheOptions(reuse: !noCache, directory: cacheDir, resume: resume, refresh: refresh)
    }
}

/// Runs `plan` into `directory` with progress, summary, reports and the exit code of
/// `sandlock-jobs run` (and `resume`).
func execute(_ plan: Plan, in directory: RunDirectory, options: RunOptions, display: RunDisplayOptions, signals: SignalWatcher,
             verbose: Bool = false, slurm: SlurmArguments? = nil) throws {
    let mode: ProgressPrinter.Mode = switch display.progress {
    case .auto: ProgressPrinter.automatic()
    case .tty: .tty
    case .plain: .plain
    case .json: .json
    }
    let environment = getenv("NO_COLOR").map { ["NO_COLOR": String(cString: $0)] } ?? [:]
    let printer = ProgressPrinter(mode: mode, environment: environment)
    if mode == .tty { NamedThread.start("progress-ticker") { printer.tick() } }

    let record: RunRecord
    if let slurm {
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

    var summary = RunSummary(run: record, directory: directory)
    summary.verbose = verbose
    if display.explain { printError("\n" + summary.explanationText) }
    if mode != .json { printError("\n" + summary.text) }
    if let junit = display.junit {
        do {
            try summary.writeJUnit(to: junit)
        } catch {
            printError("sandlock-jobs: error: --junit: \(error)\n")
        }
    }
    if display.json { print(summary.json, terminator: "") }
    switch record.status {
    case .succeeded: return
    case .interrupted: throw ExitCode(130)
    case .failed, .running: throw ExitCode.failure
    }
}
