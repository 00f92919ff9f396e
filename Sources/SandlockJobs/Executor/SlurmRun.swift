#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import SandlockCore
import SandlockSystem

/// A run on Slurm (`run --executor slurm`), from the submitting machine: checks the plan,
/// writes `run.json` and one sbatch script per job into `slurm/`, submits the whole DAG with
/// its roots held and releases them, then follows the jobs (`squeue --json`) together with
/// the records `sandlock-jobs exec` writes on the nodes. This side is the only writer of
/// `run.json`; it also records the stages Slurm never ran (a dependency that can no longer
/// be met cancels a job: `--kill-on-invalid-dep=yes`), with the statuses and messages a
/// local run gives them (`Runner.settle`).
///
///     let run = SlurmRun(plan: plan, options: options, slurm: slurm, directory: directory)
///     var record = try run.submit()
///     record = await run.follow(record)
public final class SlurmRun: Sendable {
    public let runner: Runner
    public let slurm: SlurmOptions
    var plan: Plan { runner.plan }
    var directory: RunDirectory { runner.directory }
    var graph: SlurmGraph { SlurmGraph(plan: plan, directory: directory, options: slurm) }

    public init(plan: Plan, options: RunOptions, slurm: SlurmOptions, directory: RunDirectory,
                events: @escaping @Sendable (RunEvent) -> Void = { _ in }) {
        runner = Runner(plan: plan, options: options, directory: directory, events: events)
        self.slurm = slurm
    }

    // MARK: Checks

    /// What a run on Slurm cannot do that a local run can, each refused before anything is
    /// created (fail closed: nothing would be checked or previewed as locally), then whether
    /// Slurm answers. The run directory will be `options.runDirectory` or under the
    /// workdir's runs root.
    public static func check(_ plan: Plan, options: RunOptions, slurm: SlurmOptions) throws(SlurmError) {
        let runDirectory = options.runDirectory.map { FileSystem.absolute($0, base: FileSystem.currentDirectory) }
            ?? RunDirectory.runsRoot(workdir: plan.workdir)
        try SlurmGraph(plan: plan, directory: RunDirectory(path: runDirectory), options: slurm).checkScriptValues()
        if options.dryRun {
            throw .unsupported("--dry-run is not supported with --executor slurm (its stacked layers live on one machine): run it locally")
        }
        for (what, path) in [("the run directory", runDirectory), ("the workdir", plan.workdir)] {
            // A run directory not made yet will be on its nearest existing parent's filesystem.
            var existing = path
            while !RunFiles.exists(existing), existing != "/" { existing = Files.parent(of: existing) }
            if let type = Files.filesystemType(of: existing), let name = Files.machineLocalFilesystems[type] {
                throw .notShared("\(what) \(path) is on \(name), which only this machine sees: with --executor slurm it must be on a filesystem every node mounts (use --run-dir, or a workdir on shared storage)")
            }
        }
        let runner = Runner(plan: plan, options: options, directory: RunDirectory(path: runDirectory))
        var copyOnWrite: [String] = []
        for stage in plan.stages {
            let writes = (try? runner.copyOnWriteTrees(of: stage)).map { !$0.isEmpty } ?? false
            if case .map(let map) = stage.work {
                guard map.source.count != nil else {
                    throw .unsupported("stage '\(stage.name)': its fan-out is decided at run time (its input does not exist yet), but a Slurm job array needs its size at submission: create the input first, or run it locally")
                }
                if writes {
                    throw .unsupported("stage '\(stage.name)': a map stage that writes inside the workdir (copy-on-write per shard) cannot run on Slurm yet: its shards' layers would have to meet on one machine; run it locally")
                }
            }
            if writes { copyOnWrite.append(stage.name) }
        }
        // Parallel stages are checked against each other by the runner that settles them;
        // on Slurm each settles in its own job, so two that may overlap are refused.
        for (i, a) in copyOnWrite.enumerated() {
            for b in copyOnWrite[(i + 1)...] where !(runner.ancestors[b]?.contains(a) ?? false) && !(runner.ancestors[a]?.contains(b) ?? false) {
                throw .unsupported("stages '\(a)' and '\(b)' both write the workdir copy-on-write and neither needs the other: on Slurm they may run at once on different nodes, where their changes cannot be checked against each other; add `needs:` between them, or run locally")
            }
        }
        try SlurmClient.checkReachable()
    }

    /// Slurm's clients are in PATH and its controller answers.
    public static var reachable: Bool { (try? SlurmClient.checkReachable()) != nil }

    // MARK: Preview

    /// `plan --executor slurm`: every job's script and what it waits for, job names standing
    /// for the ids Slurm would give; with `test`, each script (without its dependency, which
    /// names no real job) as `sbatch --test-only` judges it.
    public func preview(test: Bool) throws(SlurmError) -> String {
        try graph.checkScriptValues()
        let jobs = graph.jobs
        var text = ""
        for job in jobs {
            let dependency = graph.dependency(of: job) { stage, role in "<\(stage)\(role == .reduce ? "/reduce" : "")>" }
            let script = graph.script(for: job, dependency: dependency, hold: dependency == nil)
            text += "# \(job.script): \(dependency.map { "after \($0)" } ?? "a root: submitted held, released once every job is in")\n"
            text += script
            if test {
                let verdict: String
                do {
                    let path = try Self.temporaryScript(graph.script(for: job, dependency: nil, hold: false))
                    defer { unlink(path) }
                    verdict = try SlurmClient.test(path)
                } catch {
                    verdict = "\(error)"
                }
                text += "# sbatch --test-only: \(verdict)\n"
            }
            text += "\n"
        }
        return text
    }

    private static func temporaryScript(_ text: String) throws(SlurmError) -> String {
        let path = "/tmp/sandlock-jobs-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sbatch"
        do { try RunFiles.writeAtomically(Array(text.utf8), to: path, sync: false) } catch {
            throw .command("writing \(path)", "\(error)")
        }
        return path
    }

    // MARK: Submission

    /// Writes `run.json` (`running`) and the scripts, submits every job (roots held, the
    /// others depending on the jobs of their needs), writes `slurm/jobs.json`, and releases
    /// the roots. A rejected submission cancels what was already submitted, records every
    /// stage as cancelled (naming the rejection) and ends the run as failed.
    public func submit(selected: Set<String>?) throws(SlurmError) -> RunRecord {
        try graph.checkScriptValues()
        var record = runner.newRecord(selected: selected)
        record.executor = "slurm"
        do {
            try directory.runStarted(record)
            try RunFiles.makeDirectories(directory.slurmDirectory)
        } catch {
            throw .command("the run directory", "\(error)")
        }
        runner.events(.runStarted(record))
        var jobs = graph.jobs
        var roots: [String] = []
        do throws(SlurmError) {
            for index in jobs.indices {
                let job = jobs[index]
                let dependency = graph.dependency(of: job) { stage, role in
                    jobs.first { $0.stage == stage && $0.role == role }?.id ?? ""
                }
                let path = directory.path + "/" + job.script
                let text = graph.script(for: job, dependency: dependency, hold: dependency == nil)
                do { try RunFiles.writeAtomically(Array(text.utf8), to: path, sync: false) } catch {
                    throw .command("writing \(job.script)", "\(error)")
                }
                jobs[index].id = try SlurmClient.submit(path)
                if dependency == nil, let id = jobs[index].id { roots.append(id) }
            }
            try writeJobs(jobs)
            try SlurmClient.release(roots)
        } catch {
            // Nothing half-submitted is left behind.
            try? SlurmClient.cancel(jobs.compactMap(\.id))
            try? writeJobs(jobs)
            for stage in plan.stages {
                var cancelled = StageRecord(stage: stage.name, kind: stage.kindName, status: .cancelled)
                cancelled.message = "not run: the submission failed (\(error))"
                try? directory.record(cancelled, in: &record)
            }
            try? directory.runEnded(&record, interrupted: false, at: .now)
            throw error
        }
        return record
    }

    /// The run's jobs as submitted (`slurm/jobs.json`).
    public func readJobs() -> [SlurmJob] { Self.jobs(of: directory) }

    /// The jobs a run on Slurm submitted (`slurm/jobs.json`; none for a local run).
    public static func jobs(of directory: RunDirectory) -> [SlurmJob] {
        (try? RecordCoding.decode([SlurmJob].self, path: directory.slurmJobsPath)) ?? []
    }

    private func writeJobs(_ jobs: [SlurmJob]) throws(SlurmError) {
        do { try RunFiles.writeAtomically(RecordCoding.encode(jobs), to: directory.slurmJobsPath, sync: true) } catch {
            throw .command("writing slurm/jobs.json", "\(error)")
        }
    }

    // MARK: Following

    /// Waits until every stage has a record, polling Slurm (from 0.25 s, backing off to 2 s
    /// while nothing changes); cancelling the task `scancel`s every job of the run, waits
    /// (at most a minute) for them to go, and records the rest as cancelled. Returns the
    /// ended run's record.
    public func follow(_ record: RunRecord) async -> RunRecord {
        await follow(record, cancelledAt: nil)
    }

    private func follow(_ record: RunRecord, cancelledAt: Date?) async -> RunRecord {
        var record = record
        var progress = Progress()
        var interval = Self.firstInterval
        var cancelledAt = cancelledAt
        while true {
            if Task.isCancelled, cancelledAt == nil {
                cancelledAt = .now
                do { try SlurmClient.cancel(readJobs().compactMap(\.id)) } catch { runner.events(.warning("\(error)")) }
            }
            let giveUp = cancelledAt.map { Date.now.timeIntervalSince($0) > Self.cancelGrace } ?? false
            if giveUp { try? SlurmClient.kill(readJobs().compactMap(\.id)) }
            let changed = step(&record, progress: &progress, interrupted: cancelledAt != nil, giveUp: giveUp)
            if record.stages.allSatisfy({ $0.status != nil }) { break }
            interval = changed ? Self.firstInterval : min(Self.lastInterval, interval * 1.5)
            // After a cancel the loop still waits for the jobs' own records: not cancellable.
            let pause = Duration.milliseconds(Int(interval * 1000))
            await Task.detached { try? await Task.sleep(for: pause) }.value
        }
        do { try directory.runEnded(&record, interrupted: cancelledAt != nil, at: .now) } catch {
            runner.events(.warning("cannot write the run record: \(error)"))
        }
        runner.events(.runEnded(record))
        return record
    }

    /// `sandlock-jobs status`: one look at the jobs and the records, `run.json` brought up
    /// to date (and ended when every stage has a record).
    public func refresh(_ record: RunRecord) -> RunRecord {
        var record = record
        var progress = Progress()
        _ = step(&record, progress: &progress, interrupted: false, giveUp: false)
        if record.status == .running, record.stages.allSatisfy({ $0.status != nil }) {
            try? directory.runEnded(&record, interrupted: false, at: .now)
        }
        return record
    }

    /// `sandlock-jobs cancel`: scancel of every job of the run, then the records of what
    /// they left (the jobs' own, written as they stop, and cancelled for those that never ran).
    public func cancel(_ record: RunRecord) async throws(SlurmError) -> RunRecord {
        try SlurmClient.cancel(readJobs().compactMap(\.id))
        return await follow(record, cancelledAt: .now)
    }

    static let firstInterval = 0.25
    static let lastInterval = 2.0
    /// How long a cancelled run waits for its jobs to stop and record it before they are
    /// killed and recorded as cancelled here.
    static let cancelGrace = 60.0

    /// What the progress display has been told.
    struct Progress {
        var started: Set<String> = []
        var shardsSeen: [String: Int] = [:]
        /// The queue could not be read at the last look (said once per outage).
        var queueUnreadable = false
    }

    /// One look: job states, then every stage without a status in plan order: its record
    /// when its job wrote one, else (its jobs over, its needs recorded) the record of a stage
    /// Slurm did not run. True when something changed.
    func step(_ record: inout RunRecord, progress: inout Progress, interrupted: Bool, giveUp: Bool) -> Bool {
        let jobs = readJobs()
        let states: [SlurmClient.JobState]?
        do {
            states = try SlurmClient.states()
            progress.queueUnreadable = false
        } catch {
            states = nil
            if !progress.queueUnreadable { runner.events(.warning("\(error); still waiting (Ctrl-C cancels the run's jobs)")) }
            progress.queueUnreadable = true
        }
        var changed = false
        for stage in plan.stages {
            guard let entry = record.stages.first(where: { $0.name == stage.name }), entry.status == nil else { continue }
            let own = jobs.filter { $0.stage == stage.name }
            let mine = states.map { all in all.filter { s in own.contains { $0.id == String(s.jobID) || $0.id == s.arrayJobID.map(String.init) } } }
            report(stage, states: mine, progress: &progress)
            var ended = directory.readStageRecord(stage.name)
            if ended == nil {
                let over = giveUp || (mine.map { !$0.contains(where: \.isActive) } ?? false)
                let needsRecorded = stage.needs.allSatisfy { need in record.stages.contains { $0.name == need && $0.status != nil } }
                guard over, needsRecorded else { continue }
                ended = unrunRecord(stage, jobs: own, states: mine ?? [], interrupted: interrupted)
            }
            guard let ended else { continue }
            do { try directory.record(ended, in: &record) } catch {
                runner.events(.warning("the run directory is not being updated: \(error)"))
            }
            runner.events(.stageEnded(ended))
            changed = true
        }
        return changed
    }

    /// Live progress: a stage starts when one of its jobs runs; a map stage's shards end as
    /// their records appear.
    private func report(_ stage: PlannedStage, states: [SlurmClient.JobState]?, progress: inout Progress) {
        var total: Int?
        if case .map(let map) = stage.work { total = map.source.count }
        if !progress.started.contains(stage.name), states?.contains(where: { $0.state == "RUNNING" }) ?? false {
            progress.started.insert(stage.name)
            runner.events(.stageStarted(stage: stage.name, kind: stage.kindName, shards: total))
        }
        guard let total, progress.started.contains(stage.name) else { return }
        let shards = directory.readShardRecords(stage.name)
        let seen = progress.shardsSeen[stage.name] ?? 0
        guard shards.count > seen else { return }
        var failed = shards.prefix(seen).filter { $0.status != .succeeded }.count
        for (index, shard) in shards.enumerated().dropFirst(seen) {
            if shard.status != .succeeded { failed += 1 }
            runner.events(.shardEnded(stage: stage.name, shard: shard.shard, succeeded: shard.status == .succeeded,
                                      reason: shard.attempts.last?.reasonText ?? "", done: index + 1, failed: failed, total: total))
        }
        progress.shardsSeen[stage.name] = shards.count
    }

    /// The record of a stage whose jobs are over without one: skipped or cancelled as a local
    /// run would have it (its condition did not hold, the run was interrupted); a map stage
    /// whose shards failed past the allowance, from their records; else failed, naming how
    /// Slurm ended its job.
    func unrunRecord(_ stage: PlannedStage, jobs: [SlurmJob], states: [SlurmClient.JobState], interrupted: Bool) -> StageRecord {
        let (results, failedUpstream) = runner.endedUpstream(of: stage)
        if let settled = runner.settle(stage, results: results, failedUpstream: failedUpstream,
                                       selected: (try? directory.readRunRecord())?.selected.map(Set.init)) {
            return settled
        }
        var record = StageRecord(stage: stage.name, kind: stage.kindName, status: interrupted ? .cancelled : .failed)
        if case .map(let map) = stage.work {
            var tally = runner.shardTally(of: stage, map)
            tally.summary.notRun = tally.summary.total - tally.summary.succeeded - tally.summary.failed
            if Runner.failedPastAllowance(tally.summary, into: &tally.record) { return tally.record }
        }
        if interrupted {
            record.message = "not started: the run was interrupted"
            return record
        }
        let final = jobs.first { $0.role == SlurmGraph.finalRole(of: stage) }
        let state = states.first { final?.id == String($0.jobID) }
        if state?.state == "TIMEOUT" { record.reason = .timeout }
        record.message = "the Slurm job \(final?.id ?? "?") ended \(state.map { "\($0.state) (\($0.reason ?? "no reason"))" } ?? "and was forgotten by Slurm") without the stage's record; see \(directory.relative(directory.slurmDirectory))/\(stage.name)*.out"
        return record
    }
}
