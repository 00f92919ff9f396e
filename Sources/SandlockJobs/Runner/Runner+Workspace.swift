#if canImport(Glibc)
import Glibc
#endif
import SandlockCore

/// What the runner remembers of the stages' copy-on-write changes while a run goes on.
struct WorkspaceLedger: Sendable {
    /// Stage → tree → what it changed (committed, kept or previewed changes), for conflicts
    /// between parallel stages.
    var touched: [String: [String: TouchedPaths]] = [:]
    /// Dry run: stage → tree → the upper holding its changes, stacked under later stages.
    var layers: [String: [String: String]] = [:]
    /// Dry run: the stages' workspaces, thrown away when the run ends.
    var previews: [Workspace] = []
}

extension Runner {
    /// The trees a stage sees copy-on-write: the workdir when a process of the stage may
    /// write in it; in a dry run also the other trees its processes may write (of the run's
    /// `dryRunTrees`), and every tree the stages it needs (directly or not) changed, whose
    /// changes are stacked below it.
    func copyOnWriteTrees(of stage: PlannedStage) throws(StageSetupError) -> [CopyOnWriteTree] {
        let workdir = realWorkdir
        let writes = Self.realWrites(of: stage)
        let upstream = ancestors[stage.name] ?? []
        var roots = Set(ledger.withLock { l in upstream.flatMap { l.layers[$0].map { Array($0.keys) } ?? [] } })
        for path in writes {
            if options.dryRun {
                guard let tree = dryRunTrees.first(where: { FileSystem.isInside(path, $0) }) else {
                    throw StageSetupError(message: "--dry-run cannot preview writes to '\(path)': it contains the workdir \(workdir) (and the run directory); grant narrower paths")
                }
                roots.insert(tree)
            } else if FileSystem.isInside(path, workdir) || FileSystem.isInside(workdir, path) {
                // A grant that contains the workdir (`write: [/tmp]` over a workdir in /tmp)
                // makes the workdir copy-on-write too: the overlay catches its writes to the
                // run directory (dropped, `excluded`), which no sandbox may change.
                roots.insert(workdir)
            }
        }
        let ordered = roots.sorted { ($0 == workdir ? 0 : 1, $0) < ($1 == workdir ? 0 : 1, $1) }
        return ordered.map { root in
            let inside = { (path: String) in FileSystem.isInside(path, root) && path != root }
            let relative = { (path: String) in String(path.dropFirst(root == "/" ? 1 : root.count + 1)) }
            let missing = writes.filter { inside($0) && !RunFiles.exists($0) }
            return CopyOnWriteTree(path: root, lowers: upstreamLayers(of: stage, in: root), excluded: runnerFiles.filter(inside).map(relative),
                                   created: Array(Set(missing.map(relative))).sorted(), isWorkdir: root == workdir)
        }
    }

    /// Write grants as real paths; one that does not exist yet as where it will be (as
    /// Landlock will grant it).
    static func realWrites(of stage: PlannedStage) -> [String] {
        stage.processes.flatMap(\.policy.fsWritable).map { Workspace.futureLocation(of: $0) ?? canonical($0) }
    }

    /// Dry run: every tree the run's stages may write, outermost only: the workdir, and
    /// outside it each directory granted (or a granted file's directory). The same trees for
    /// every stage, so one stage's layer stacks under another's whatever part each wrote. A
    /// grant that contains the workdir is not one of them (the stage writing it cannot be
    /// previewed; the others can).
    static func dryRunTrees(of plan: Plan, in workdir: String) -> [String] {
        let roots = Set(plan.stages.flatMap(realWrites).map { path in
            FileSystem.isInside(path, workdir) ? workdir : FileSystem.isDirectory(path) == true ? path : FileSystem.directory(of: path)
        }).filter { $0 == workdir || !FileSystem.isInside(workdir, $0) }
        return roots.filter { root in !roots.contains { $0 != root && FileSystem.isInside(root, $0) } }.sorted()
    }

    /// Dry run: the uppers of the stages `stage` needs (directly or not) for `tree`, topmost
    /// (latest) first.
    func upstreamLayers(of stage: PlannedStage, in tree: String) -> [String] {
        let upstream = ancestors[stage.name] ?? []
        let layers = ledger.withLock { $0.layers }
        return plan.stages.filter { upstream.contains($0.name) }.compactMap { layers[$0.name]?[tree] }.reversed()
    }

    /// Dry run: the workdir as the stage would see it, upstream changes included; nil outside
    /// a dry run or when nothing upstream changed it.
    func previewedWorkdir(for stage: PlannedStage) -> LayeredView? {
        guard options.dryRun else { return nil }
        let tree = dryRunTrees.first { FileSystem.isInside(realWorkdir, $0) } ?? realWorkdir
        let layers = upstreamLayers(of: stage, in: tree)
        return layers.isEmpty ? nil : LayeredView(tree: tree, layers: layers)
    }

    /// The stage's copy-on-write workspaces, or nil when it writes no such tree. Refuses a
    /// stage that could reach the runner's own files (`checkOutOfReach`).
    func openWorkspace(for stage: PlannedStage) throws(StageSetupError) -> StageWorkspace? {
        let trees = try copyOnWriteTrees(of: stage)
        try checkOutOfReach(stage, trees: trees)
        guard !trees.isEmpty else { return nil }
        do {
            return try StageWorkspace(trees: trees, storage: options.workspaceStorage)
        } catch {
            throw StageSetupError(message: "copy-on-write workspace: \(error)")
        }
    }

    /// No sandbox may write the run directory (results, logs, change sets: what `run` and
    /// `show` report) or reach the workspace storage (journals a later stage's commit or
    /// `recover` replays), whatever its grants. Writes to a run directory inside a tree the
    /// stage sees copy-on-write are caught by the overlay and dropped, and the storage is
    /// hidden under a tmpfs in such a sandbox; any other grant covering one of them fails the
    /// stage, naming the grant.
    func checkOutOfReach(_ stage: PlannedStage, trees: [CopyOnWriteTree]) throws(StageSetupError) {
        let overlaid = { (path: String) in trees.contains { FileSystem.isInside(path, $0.path) } }
        let storage = options.workspaceStorage ?? Workspace.defaultStorage
        for process in stage.processes {
            for grant in process.policy.fsWritable {
                let real = Workspace.futureLocation(of: grant) ?? Self.canonical(grant)
                for file in runnerFiles where !overlaid(file) && (FileSystem.isInside(file, real) || FileSystem.isInside(real, file)) {
                    throw StageSetupError(message: "filesystem.write: '\(grant)' covers the run directory '\(file)', which only the runner writes (a stage could rewrite the records `run` and `show` report); grant a narrower path, or keep the run directory elsewhere (--run-dir)")
                }
            }
            if trees.isEmpty, let problem = Workspace.storageExposure(of: process.policy, storage: storage) {
                throw StageSetupError(message: problem)
            }
        }
    }

    /// Starts one process of a stage, over fresh workspaces of `cow` when the stage has
    /// some; the caller merges, holds or discards them once the process ended.
    func start(_ run: SandboxRun, in cow: StageWorkspace?, seesStage: Bool = false) -> (SandboxRun.Started, [Workspace]) {
        guard let cow else { return (run.start(), []) }
        do {
            let workspaces = try cow.process(seesStage: seesStage)
            var run = run
            run.workspaces = workspaces
            return (run.start(), workspaces)
        } catch {
            return (SandboxRun.Started(failure: "copy-on-write workspace: \(error)"), [])
        }
    }

    /// Settles the stage's changes when its processes are over: records them
    /// (`changes.json`, `changes.txt`, `changes.diff`), checks them against parallel
    /// stages, then commits, aborts or keeps them as `on_success`/`on_failure` say. A dry run
    /// commits nothing: what a real run would commit becomes a layer under the stages
    /// downstream.
    func settleChanges(_ cow: StageWorkspace, of stage: PlannedStage, into record: inout StageRecord) {
        let dryRun = options.dryRun
        // A dry run previews what a real run would do with these changes.
        let disposition: Disposition = switch record.status {
        case .succeeded: stage.onSuccess
        // An interrupted stage's half-done changes are never applied on their own.
        case .cancelled: stage.onFailure == .commit ? .keep : stage.onFailure
        default: stage.onFailure
        }
        var report = StageChanges(disposition: disposition, outcome: .aborted, trees: cow.trees.map(\.path))
        let problems = cow.problems
        var conflicts = problems.conflicts, failure = problems.failure
        if !problems.leftOut.isEmpty { report.leftOut = problems.leftOut }
        var perTree: [ChangeSet] = []
        for workspace in cow.collected {
            do { perTree.append(try workspace.changes()) } catch {
                failure = failure ?? error.description
                perTree.append(ChangeSet(changes: []))
            }
        }
        writeChangeFiles(perTree, of: cow, stage: stage.name, into: &report)

        let workdir = realWorkdir
        func settle(_ action: StageSettlement.Action) {
            StageSettlement.settle(cow.collected, changes: perTree, action, workdir: workdir, into: &report)
        }
        if let failure {
            if dryRun || disposition == .abort { settle(.discard) } else { settle(.keep(.failed)) }
            report.outcome = .failed
            report.message = failure
        } else if disposition == .abort || (disposition == .keep && perTree.allSatisfy(\.isEmpty)) {
            // Thrown away (a keep of nothing too; in a dry run: shown, not stacked under later stages).
            settle(.discard)
            if dryRun { report.outcome = .previewed }
        } else {
            conflicts += parallelConflicts(of: stage.name, cow: cow, perTree)
            if dryRun {
                // Stacked on the other previews, the layers mean nothing once the run is over;
                // only changes a real run would commit are stacked under later stages.
                report.outcome = conflicts.isEmpty ? .previewed : .conflict
                ledger.withLock { l in
                    l.previews += cow.collected
                    if conflicts.isEmpty && disposition == .commit {
                        l.layers[stage.name] = Dictionary(uniqueKeysWithValues: cow.collected.map { ($0.workdir, $0.upperDirectory) })
                    }
                }
            } else if !conflicts.isEmpty {
                settle(.keep(.conflict))
            } else if disposition == .keep {
                settle(.keep(.kept))
            } else {
                settle(.commit(overwriting: false))
            }
            if report.outcome != .conflict && report.outcome != .failed { remember(stage.name, cow, perTree) }
        }
        // The stage's own conflicts (its processes', parallel stages') and the commit's.
        if !conflicts.isEmpty { report.conflicts = conflicts + (report.conflicts ?? []) }
        record.settle(report)
    }

    /// Paths this stage and an earlier-ended stage it does not depend on both changed,
    /// differently.
    private func parallelConflicts(of stage: String, cow: StageWorkspace, _ perTree: [ChangeSet]) -> [ConflictEntry] {
        let upstream = ancestors[stage] ?? []
        let others = ledger.withLock { $0.touched }.filter { !upstream.contains($0.key) && $0.key != stage }
        var conflicts: [ConflictEntry] = []
        for (index, changes) in perTree.enumerated() {
            let tree = cow.collected[index].workdir
            for (other, trees) in others.sorted(by: { $0.key < $1.key }) {
                guard let theirs = trees[tree] else { continue }
                conflicts += theirs.clashes(with: changes).map {
                    ConflictEntry(path: cow.display($0.path, tree: index),
                                  reason: "\($0.reason), a stage that runs in parallel (neither needs the other)",
                                  stage: other, theirs: $0.theirs, ours: $0.ours)
                }
            }
        }
        return conflicts
    }

    private func remember(_ stage: String, _ cow: StageWorkspace, _ perTree: [ChangeSet]) {
        ledger.withLock { l in
            for (workspace, changes) in zip(cow.collected, perTree) where !changes.isEmpty {
                var touched = TouchedPaths()
                touched.add(changes, by: "stage '\(stage)'")
                l.touched[stage, default: [:]][workspace.workdir] = touched
            }
        }
    }

    /// `changes.json` (every tree's changes, workdir paths relative, others absolute),
    /// `changes.txt` (`A path` lines) and `changes.diff` (unified diff).
    private func writeChangeFiles(_ perTree: [ChangeSet], of cow: StageWorkspace, stage: String, into report: inout StageChanges) {
        var shown: [Change] = []
        var diff = ""
        for (index, changes) in perTree.enumerated() {
            for var change in changes.changes {
                change.path = cow.display(change.path, tree: index)
                change.from = change.from.map { cow.display($0, tree: index) }
                shown.append(change)
            }
            guard !changes.isEmpty else { continue }
            if !cow.trees[index].isWorkdir { diff += "# \(cow.trees[index].path)\n" }
            diff += cow.collected[index].unifiedDiff(changes, lineLimit: options.diffLineLimit)
        }
        let all = ChangeSet(changes: shown)
        report.count(all)
        do {
            for (format, text) in [(RunDirectory.ChangesFormat.json, all.json()), (.summary, all.summary), (.diff, diff)] {
                try RunFiles.writeAtomically(Array(text.utf8), to: directory.changesFile(stage, format), sync: false)
            }
            report.changesFile = directory.relative(directory.changesFile(stage, .json))
            report.diffFile = directory.relative(directory.changesFile(stage, .diff))
        } catch {
            events(.warning("stage '\(stage)': cannot write its change set: \(error)"))
        }
    }

    /// Throws away the dry run's layers (the run is over).
    func discardPreviews() {
        let previews = ledger.withLock { l in
            defer { l.previews = []; l.layers = [:] }
            return l.previews
        }
        for workspace in previews { try? workspace.discard() }
    }

    /// Every stage's transitive `needs`.
    static func ancestors(in plan: Plan) -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        for stage in plan.stages {  // topological order: needs come first
            var all = Set(stage.needs)
            for need in stage.needs { all.formUnion(result[need] ?? []) }
            result[stage.name] = all
        }
        return result
    }

    /// realpath(3), or the path as given when it does not resolve.
    static func canonical(_ path: String) -> String { resolved(path) ?? path }

    /// realpath(3): nil when `path` does not exist.
    static func resolved(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// A plan path inside the workdir as a dry run's view names it (below the real workdir).
    func viewPath(of path: String) -> String? {
        FileSystem.isInside(path, plan.workdir) ? realWorkdir + path.dropFirst(plan.workdir.count) : nil
    }
}
