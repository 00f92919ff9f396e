#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SandlockCore
import SandlockJobs

/// Where `run` runs the stages: here, or as Slurm jobs.
enum Executor: String, ExpressibleByArgument, CaseIterable {
    case local, slurm
}

/// What `--partition`, `--account` and `--sbatch-arg` give every job (`run`, `plan`).
struct SlurmJobArguments: ParsableArguments {
    @Option(help: ArgumentHelp("Slurm partition of every job (--executor slurm).", valueName: "P"))
    var partition: String?

    @Option(help: ArgumentHelp("Slurm account of every job (--executor slurm).", valueName: "A"))
    var account: String?

    @Option(help: ArgumentHelp("An extra sbatch argument for every job, e.g. --sbatch-arg=--qos=long (repeatable; --executor slurm).", valueName: "ARG"))
    var sbatchArg: [String] = []

    var given: Bool { partition != nil || account != nil || !sbatchArg.isEmpty }

    var options: SlurmOptions {
        SlurmOptions(partition: partition, account: account, extraArguments: sbatchArg, executable: ownExecutable())
    }
}

/// The flags `run` takes for `--executor slurm`.
struct SlurmArguments: ParsableArguments {
    @Option(help: "Where the stages run: local (this machine) or slurm (one sbatch job per stage, a job array per fan-out).")
    var executor: Executor = .local

    @OptionGroup var jobs: SlurmJobArguments

    @Flag(help: "With --executor slurm: return once the jobs are submitted, printing their ids (`sandlock-jobs status RUN` follows them).")
    var detach = false

    func validate() throws {
        if executor == .local, jobs.given || detach {
            throw ValidationError("--partition, --account, --sbatch-arg and --detach need --executor slurm.")
        }
    }
}

/// This program's absolute path: what the jobs run on the nodes (a shared filesystem, or
/// the same install path on every node).
func ownExecutable() -> String {
    Files.readLink("/proc/self/exe") ?? CommandLine.arguments[0]
}

/// What `run --executor slurm` refuses (`SlurmRun.check`), before anything is created.
func checkSlurm(_ plan: Plan, dryRun: Bool, runDir: String?, slurm: SlurmArguments) throws {
    do {
        try SlurmRun.check(plan, options: RunOptions(jobs: 1, runDirectory: runDir, dryRun: dryRun), slurm: slurm.jobs.options)
    } catch {
        throw fail("--executor slurm: \(error)")
    }
}

/// `run --executor slurm`: submit, then follow the jobs (or detach). Ctrl-C cancels every
/// job of the run.
func runOnSlurm(_ plan: Plan, options: RunOptions, slurm: SlurmArguments, directory: RunDirectory,
                printer: ProgressPrinter, signals: SignalWatcher) throws -> RunRecord {
    let run = SlurmRun(plan: plan, options: options, slurm: slurm.jobs.options, directory: directory, events: printer.handle)
    var record: RunRecord
    do {
        record = try run.submit(selected: try? Runner.selection(of: plan, only: options.only, from: options.from))
    } catch {
        throw fail("--executor slurm: \(error)")
    }
    if slurm.detach {
        let ids = run.readJobs().map { "\($0.stage)\($0.role == .stage ? "" : "/\($0.role.rawValue)")=\($0.id ?? "?")" }
        print("run \(directory.path)\nslurm jobs: \(ids.joined(separator: " "))")
        return record
    }
    let submitted = record
    record = runBlocking { () async -> RunRecord in
        let task = Task { await run.follow(submitted) }
        signals.onSignal { _ in task.cancel() }
        return await task.value
    }
    return record
}

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run one Slurm job's part of a stage of a submitted run (what the sbatch scripts call).",
        discussion: """
            Runs on the node, in the job, confined by the same engine as a local run and writing \
            the same records into the run directory: a command or pipeline stage (retries and \
            its copy-on-write changes included), one shard of a map stage (--shard), or a map \
            stage's reducer and record (--reduce). Exits 0 when that part succeeded (or the \
            stage was skipped by its `if:`), 1 otherwise, so that Slurm's afterok/afternotok \
            follow the stage's outcome.
            """
    )

    @Option(help: ArgumentHelp("The run directory `run --executor slurm` created.", valueName: "DIR"))
    var runDir: String

    @Option(help: ArgumentHelp("The stage.", valueName: "STAGE"))
    var stage: String

    @Option(help: ArgumentHelp("Run this shard of a map stage ($SLURM_ARRAY_TASK_ID).", valueName: "N"))
    var shard: Int?

    @Flag(help: "Run a map stage's reducer over its shards' outputs and write the stage's record.")
    var reduce = false

    func validate() throws {
        if shard != nil && reduce { throw ValidationError("--shard and --reduce exclude each other.") }
    }

    func run() throws {
        let signals = SignalWatcher.install()
        guard let resolved = realpath(runDir, nil) else { throw fail("--run-dir: no directory '\(runDir)'", Exit.missingFile) }
        let directory = RunDirectory(path: String(cString: resolved))
        free(resolved)
        let record: RunRecord
        do { record = try directory.readRunRecord() } catch {
            throw fail("--run-dir: \(error)", Exit.missingFile)
        }
        let options = RunOptions(jobs: 1, keepGoing: record.keepGoing, runDirectory: directory.path, commandLine: record.commandLine)
        let runner = Runner(plan: record.plan, options: options, directory: directory)
        let part: Runner.ExecPart = shard.map { .shard($0) } ?? (reduce ? .reduce : .stage)
        let outcome = runBlocking { () async -> Result<Bool, ExecError> in
            let task = Task { () async -> Result<Bool, ExecError> in
                do throws(ExecError) { return .success(try await runner.exec(stage, part)) } catch { return .failure(error) }
            }
            signals.onSignal { _ in task.cancel() }
            return await task.value
        }
        switch outcome {
        case .success(true): return
        case .success(false): throw ExitCode.failure
        case .failure(let error): throw fail("\(error)")
        }
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Bring a run submitted with --executor slurm up to date from Slurm and its records, and show it.",
        discussion: """
            Examples:
              sandlock-jobs run --executor slurm --detach jobs/wordcount.yaml
              sandlock-jobs status latest --in jobs/wordcount.yaml
            Exit codes: 0 succeeded, 1 failed, 2 still running, 66 no such run.
            """
    )

    @Argument(help: ArgumentHelp("`latest`, a run id (or a unique prefix), or a run directory.", valueName: "run"))
    var runID: String

    @OptionGroup var location: RunsLocation

    func run() throws {
        let (directory, record) = try location.find(runID)
        let updated = record.executor == "slurm" && record.status == .running
            ? slurmRun(record, directory).refresh(record) : record
        printError(RunSummary(run: updated, directory: directory).text)
        switch updated.status {
        case .succeeded: return
        case .running: throw ExitCode(2)
        case .failed, .interrupted: throw ExitCode.failure
        }
    }
}

struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel every Slurm job of a run submitted with --executor slurm (scancel), and record what they left.",
        discussion: """
            Example:
              sandlock-jobs cancel latest --in jobs/wordcount.yaml
            """
    )

    @Argument(help: ArgumentHelp("`latest`, a run id (or a unique prefix), or a run directory.", valueName: "run"))
    var runID: String

    @OptionGroup var location: RunsLocation

    func run() throws {
        let (directory, record) = try location.find(runID)
        guard record.executor == "slurm" else { throw fail("run \(record.id) did not run on Slurm: there is nothing to cancel") }
        let run = slurmRun(record, directory)
        let outcome = runBlocking { () async -> Result<RunRecord, SlurmError> in
            do throws(SlurmError) { return .success(try await run.cancel(record)) } catch { return .failure(error) }
        }
        switch outcome {
        case .success(let ended): printError(RunSummary(run: ended, directory: directory).text)
        case .failure(let error): throw fail("\(error)")
        }
    }
}

/// A submitted run, as `status` and `cancel` find it.
private func slurmRun(_ record: RunRecord, _ directory: RunDirectory) -> SlurmRun {
    SlurmRun(plan: record.plan, options: RunOptions(jobs: record.jobs, keepGoing: record.keepGoing, commandLine: record.commandLine),
             slurm: SlurmOptions(executable: ownExecutable()), directory: directory)
}
