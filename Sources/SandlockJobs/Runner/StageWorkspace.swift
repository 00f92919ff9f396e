import SandlockCore
import Synchronization

/// A tree a stage sees copy-on-write, and what lies between it and the stage.
struct CopyOnWriteTree: Sendable, Hashable {
    /// The real tree (canonical).
    var path: String
    /// Uppers stacked above the real tree, topmost first: in a dry run, the changes of the
    /// stages this one needs (directly or not).
    var lowers: [String]
    /// Paths relative to the tree whose writes are dropped: the run directory, which only the
    /// runner writes.
    var excluded: [String]
    /// Missing `filesystem.write` directories (relative), created in each process's upper:
    /// Landlock needs them to exist, and the real tree gets them only with the stage's changes.
    var created: [String]
    /// The job's workdir (paths in it are shown relative).
    var isWorkdir: Bool
}

/// The copy-on-write side of one stage: per tree, one workspace that collects the stage's
/// changes, and the workspaces of its processes (a command attempt, a pipeline member, a
/// shard, the reducer), each with its own upper, merged into it when they end.
///
/// Processes that run side by side (members, shards) must not change the same path
/// differently: such a process's changes are not merged and the stage ends in conflict.
final class StageWorkspace: Sendable {
    let trees: [CopyOnWriteTree]
    /// One per tree, in `trees` order.
    let collected: [Workspace]
    let storage: String?
    private let state = Mutex(State())
    /// Held while a process's upper moves into the stage's.
    private let merging = Mutex(())

    private struct State {
        /// The last attempt's process workspaces, merged when the attempts are over.
        var held: [[Workspace]] = []
        /// Per tree: what the side-by-side processes merged so far changed, and which did.
        var touched: [TouchedPaths] = []
        var conflicts: [ConflictEntry] = []
        /// Processes whose changes were not merged, or not wholly (they conflicted, or their
        /// merge failed).
        var leftOut: [String] = []
        var failure: String?
    }

    init(trees: [CopyOnWriteTree], storage: String?) throws(SandboxError) {
        var collected: [Workspace] = []
        do {
            for tree in trees {
                collected.append(try Workspace.create(workdir: tree.path, stackedOn: tree.lowers, storage: storage))
            }
        } catch {
            for workspace in collected { try? workspace.discard() }
            throw error
        }
        self.trees = trees
        self.collected = collected
        self.storage = storage
        state.withLock { $0.touched = Array(repeating: TouchedPaths(), count: trees.count) }
    }

    /// Fresh workspaces for one process, one per tree. A reducer (`seesStage`) is stacked on
    /// what the shards changed.
    func process(seesStage: Bool = false) throws(SandboxError) -> [Workspace] {
        var created: [Workspace] = []
        do {
            for (tree, stage) in zip(trees, collected) {
                let lowers = seesStage ? [stage.upperDirectory] + tree.lowers : tree.lowers
                let workspace = try Workspace.create(workdir: tree.path, stackedOn: lowers, storage: storage, recovering: false)
                created.append(workspace)
                for directory in tree.created { try workspace.makeDirectory(directory) }
            }
        } catch {
            discard(created)
            throw error
        }
        return created
    }

    func discard(_ workspaces: [Workspace]) {
        for workspace in workspaces { try? workspace.discard() }
    }

    /// Holds an attempt's process workspaces until the attempts are over (`mergeHeld`); the
    /// previous attempt's are thrown away.
    func hold(_ attempt: [[Workspace]]) {
        let previous = state.withLock { s in
            defer { s.held = attempt }
            return s.held
        }
        for workspaces in previous { discard(workspaces) }
    }

    /// Merges the held workspaces: side by side (pipeline members) or after the stage's
    /// earlier changes (a command, a reducer).
    func mergeHeld(beside: Bool, labels: (Int) -> String) {
        let held = state.withLock { s in
            defer { s.held = [] }
            return s.held
        }
        for (index, workspaces) in held.enumerated() {
            merge(workspaces, beside: beside, label: labels(index))
        }
    }

    /// Merges one process's workspaces into the stage's, one process at a time (shards end
    /// concurrently). Side by side, its changes are first checked against those of the
    /// processes merged before it.
    func merge(_ workspaces: [Workspace], beside: Bool, label: String) {
        for (index, workspace) in workspaces.enumerated() {
            do {
                for path in trees[index].excluded { try workspace.forget(path) }
                let changes = beside ? try workspace.changes() : nil
                try merging.withLock { _ throws(SandboxError) in
                    if let changes, !accept(changes, tree: index, label: label) {
                        try workspace.discard()
                    } else {
                        try collected[index].absorb(workspace, order: changes.map { .beside($0) } ?? .after)
                    }
                }
            } catch {
                // Possibly half merged: what is kept lacks part of this process's changes.
                try? workspace.discard()
                state.withLock { s in
                    s.failure = s.failure ?? "\(label): \(error)"
                    if !s.leftOut.contains(label) { s.leftOut.append(label) }
                }
            }
        }
    }

    /// Records what a side-by-side process touched, or the paths where it disagrees with an
    /// earlier one (then nothing of it is recorded).
    private func accept(_ changes: ChangeSet, tree index: Int, label: String) -> Bool {
        state.withLock { s in
            let clashes = s.touched[index].clashes(with: changes)
            guard clashes.isEmpty else {
                if !s.leftOut.contains(label) { s.leftOut.append(label) }
                s.conflicts += clashes.map {
                    ConflictEntry(path: display($0.path, tree: index), reason: "\(label): \($0.reason)",
                                  theirs: $0.theirs, ours: $0.ours)
                }
                return false
            }
            s.touched[index].add(changes, by: label)
            return true
        }
    }

    /// Conflicts between the stage's own processes, the processes left out because of them,
    /// and the first merge failure.
    var problems: (conflicts: [ConflictEntry], leftOut: [String], failure: String?) {
        state.withLock { ($0.conflicts, $0.leftOut, $0.failure) }
    }

    /// `relative` as the stage record shows it: relative to the workdir, absolute in any
    /// other tree.
    func display(_ relative: String, tree index: Int) -> String {
        trees[index].isWorkdir ? relative : trees[index].path + "/" + relative
    }
}
