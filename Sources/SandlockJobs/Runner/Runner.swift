import FoundationEssentials
import SandlockCore
import Synchronization

/// Runs a plan: starts every stage whose needs have ended, as many sandboxes at once as
/// `--jobs` allows, each process in its own sandbox (SandlockCore, in-process), and writes
/// each stage's record to the run directory the moment it ends.
///
///     let directory = try RunDirectory.create(workdir: plan.workdir, explicit: nil)
///     let record = await Runner(plan: plan, options: RunOptions(jobs: 2), directory: directory).run()
///
/// Fail-fast by default: after a failure no new stage starts (except `if: failure` and
/// `if: always` ones) and running ones finish; `keepGoing` runs everything not downstream
/// of a failure. Cancelling the task kills every sandbox; finished records stay, the rest
/// are recorded as cancelled and the run as interrupted.
public final class Runner: Sendable {
    public let plan: Plan
    public let options: RunOptions
    public let directory: RunDirectory
    let events: @Sendable (RunEvent) -> Void
    let slots: Slots
    /// Set at the first failure unless `keepGoing`: no new `if: success` stage starts.
    let stopped = Mutex<String?>(nil)
    /// Every stage's transitive `needs`.
    let ancestors: [String: Set<String>]
    /// The workdir's real path (symlinks resolved), as workspaces and Landlock see it.
    let realWorkdir: String
    /// Real paths of the runner's own files inside the trees stages may write (the run
    /// directory), whose writes through a workspace are dropped.
    let runnerFiles: [String]
    /// Dry run: the trees the run's writes fall in (see `dryRunTrees(of:in:)`).
    let dryRunTrees: [String]
    /// The stages' copy-on-write changes so far.
    let ledger = Mutex(WorkspaceLedger())
    /// One stage settles its changes at a time, so a conflict between parallel stages is
    /// found by comparing their change sets, whichever ends first.
    let settling = Mutex(())
    /// The content-addressed cache and this run's keys (`Cache/`).
    let cache: RunCache

    public init(plan: Plan, options: RunOptions, directory: RunDirectory,
                events: @escaping @Sendable (RunEvent) -> Void = { _ in }) {
        self.plan = plan
        self.options = options
        self.directory = directory
        self.events = events
        slots = Slots(options.jobs)
        ancestors = Self.ancestors(in: plan)
        realWorkdir = Self.canonical(plan.workdir)
        cache = RunCache(workdir: plan.workdir, options: options)
        runnerFiles = [Self.canonical(RunDirectory.stateDirectory(workdir: plan.workdir)), Self.canonical(directory.path)]
            + (cache.store.map { [Self.canonical($0.root)] } ?? [])
        dryRunTrees = options.dryRun ? Self.dryRunTrees(of: plan, in: realWorkdir) : []
    }

    /// The stages `--only` and `--from` select (all when neither is given); throws a
    /// message naming an unknown stage.
    public static func selection(of plan: Plan, only: [String], from: String?) throws(SelectionError) -> Set<String>? {
        guard !only.isEmpty || from != nil else { return nil }
        let names = plan.stages.map(\.name)
        for name in only + (from.map { [$0] } ?? []) where plan.stage(name) == nil {
            throw SelectionError(stage: name, suggestion: closestMatch(to: name, in: names))
        }
        var selected = Set(names)
        if !only.isEmpty {
            var closure = Set<String>()
            var stack = only
            while let name = stack.popLast() {
                guard closure.insert(name).inserted, let stage = plan.stage(name) else { continue }
                stack += stage.needs
            }
            selected.formIntersection(closure)
        }
        if let from {
            var closure: Set<String> = [from]
            for stage in plan.stages where stage.needs.contains(where: closure.contains) { closure.insert(stage.name) }
            selected.formIntersection(closure)
        }
        return selected
    }

    public struct SelectionError: Error, Sendable, CustomStringConvertible {
        public var stage: String
        public var suggestion: String?
        public var description: String {
            "no stage '\(stage)' in the manifest" + (suggestion.map { " (did you mean '\($0)'?)" } ?? "")
        }
    }

    /// Runs the plan to its end (or until the task is cancelled) and returns the run record,
    /// which is also in `run.json`.
    public func run() async -> RunRecord {
        let selected = try? Self.selection(of: plan, only: options.only, from: options.from)
        var record = newRecord(selected: selected)
        if options.cache.resume { record.earlierAttempts = directory.attemptHistory() }
        do { try directory.runStarted(record) } catch { events(.warning("cannot write the run record: \(error)")) }
        events(.runStarted(record))

        var results: [String: StageRecord] = [:]
        var failedUpstream = Set<String>()
        var pending = plan.stages
        func finish(_ stage: StageRecord) {
            results[stage.stage] = stage
            let needs = plan.stage(stage.stage)?.needs ?? []
            let failed = stage.status == .failed || stage.status == .conflict
            if failed || needs.contains(where: failedUpstream.contains) { failedUpstream.insert(stage.stage) }
            if failed && !options.keepGoing {
                stopped.withLock { if $0 == nil { $0 = stage.stage } }
            }
            do {
                try directory.record(stage, in: &record)
            } catch {
                events(.warning("the run directory is not being updated: \(error)"))
            }
            events(.stageEnded(stage))
        }

        await withTaskGroup(of: StageRecord.self) { group in
            var running = 0
            while true {
                var progressed = true
                while progressed {
                    progressed = false
                    for stage in pending where stage.needs.allSatisfy({ results[$0] != nil }) {
                        pending.removeAll { $0.name == stage.name }
                        progressed = true
                        if let settled = settle(stage, results: results, failedUpstream: failedUpstream, selected: selected) {
                            finish(settled)
                        } else {
                            running += 1
                            let upstream = upstreamKeys(of: stage, results)
                            group.addTask { await self.runOrReuse(stage, upstream: upstream) }
                        }
                    }
                }
                guard running > 0, let ended = await group.next() else { break }
                running -= 1
                finish(ended)
            }
        }
        // A cancelled run may leave stages whose needs never ended.
        for stage in pending {
            var cancelled = StageRecord(stage: stage.name, kind: stage.kindName, status: .cancelled)
            cancelled.message = "not started: the run was interrupted"
            finish(cancelled)
        }

        discardPreviews()
        cacheRunEnded()
        do {
            try directory.runEnded(&record, interrupted: Task.isCancelled, at: .now)
        } catch {
            events(.warning("cannot write the run record: \(error)"))
        }
        events(.runEnded(record))
        return record
    }

    /// The run's record as it starts (`running`, no stage ended).
    func newRecord(selected: Set<String>?) -> RunRecord {
        RunRecord(
            id: directory.id, name: plan.name, manifest: plan.manifestPath,
            manifestSHA256: SHA256.hex(ofFile: plan.manifestPath) ?? "", workdir: plan.workdir,
            runDirectory: directory.path, commandLine: options.commandLine, landlockABI: Landlock.abi,
            jobs: options.jobs, keepGoing: options.keepGoing, selected: selected.map { s in plan.order.filter(s.contains) },
            status: .running, started: .now, stages: plan.stages.map { .init(name: $0.name, status: nil) }, plan: plan,
            dryRun: options.dryRun ? true : nil)
    }

    /// A record for a stage that does not run (skipped, not selected, cancelled), or nil to run it.
    func settle(_ stage: PlannedStage, results: [String: StageRecord], failedUpstream: Set<String>,
                selected: Set<String>?) -> StageRecord? {
        var record = StageRecord(stage: stage.name, kind: stage.kindName, status: .skipped)
        if Task.isCancelled {
            record.status = .cancelled
            record.message = "not started: the run was interrupted"
            return record
        }
        if let selected, !selected.contains(stage.name) {
            record.message = "not selected (--only/--from)"
            return record
        }
        // A stage left out by --only/--from counts as done.
        func succeeded(_ need: String) -> Bool {
            results[need]?.status == .succeeded || (selected.map { !$0.contains(need) } ?? false)
        }
        switch stage.condition {
        case .success:
            if let bad = stage.needs.first(where: { !succeeded($0) }) {
                record.message = "skipped: needed stage '\(bad)' \(results[bad]?.status.rawValue ?? "did not run")"
                return record
            }
        case .failure:
            if !stage.needs.contains(where: failedUpstream.contains) {
                record.message = "skipped: 'if: failure' and no needed stage failed"
                return record
            }
        case .always:
            break
        }
        if stage.condition == .success, let failed = stopped.withLock({ $0 }) {
            record.status = .cancelled
            record.message = "not started: stage '\(failed)' did not succeed (fail-fast; --keep-going runs it)"
            return record
        }
        return nil
    }
}
