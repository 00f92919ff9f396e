import SandlockCore

/// What becomes of a stage's copy-on-write workspaces (one per tree): the one path that
/// commits, keeps or throws them away. The runner takes it when the stage ends
/// (`Runner.settleChanges`, after deciding by `on_success`/`on_failure`, conflicts and dry
/// runs), `sandlock-jobs commit|discard` later for kept workspaces (`settleKept`). Each
/// updates the `changes` of the stage's record (`StageChanges`), then its status
/// (`StageRecord.settle`); `RunDirectory.record(_:in:)` writes it and the run's status.
public enum StageSettlement {
    public enum Action: Sendable, Hashable {
        /// Apply the changes, journaled; `overwriting` applies them over paths the real tree
        /// changed since the stage started (`commit --force`).
        case commit(overwriting: Bool)
        /// Throw them away; the real tree stays as it is.
        case discard
        /// Leave them on disk with this outcome (`kept`, `conflict`, `failed`), which is also
        /// the workspace's status for `sandlock-jobs recover`.
        case keep(StageChanges.Outcome)
    }

    public struct Result: Sendable {
        /// Changes applied (commit).
        public var committed = 0
        /// Why nothing was done (discard): a workspace in the middle of a commit, or one that
        /// could not be removed. The records are left as they were.
        public var refused: String?
    }

    /// Settles `workspaces` into `report`: `changes` are each tree's change set when the
    /// caller has it (nil: read from the workspace); paths in the tree `workdir` are shown
    /// relative to it, others absolute.
    ///
    /// - commit: `committed`, or `conflict` with `report.conflicts` (nothing of that tree
    ///   applied, its workspace kept), or `failed` with `report.message` (kept: a journal
    ///   the commit wrote is completed by `recover` or the next run). Only workspaces left
    ///   on disk stay in `report.workspaces`.
    /// - discard: `aborted`, no workspaces; refused when one is in the middle of a commit.
    /// - keep: the outcome given, every workspace listed.
    @discardableResult
    static func settle(_ workspaces: [Workspace], changes: [ChangeSet?]? = nil, _ action: Action,
                       workdir: String, into report: inout StageChanges) -> Result {
        var result = Result()
        let display = { (path: String, workspace: Workspace) in
            workspace.workdir == workdir ? path : workspace.workdir + "/" + path
        }
        switch action {
        case .commit(let overwriting):
            report.outcome = .committed
            report.workspaces = nil
            report.conflicts = nil
            report.message = nil
            var conflicts: [ConflictEntry] = []
            for (index, workspace) in workspaces.enumerated() {
                let treeChanges = changes?[index] ?? nil
                do {
                    switch try workspace.commit(treeChanges, overwriting: overwriting) {
                    case .committed(let count): result.committed += count
                    case .conflict(let found):
                        report.outcome = .conflict
                        report.workspaces = (report.workspaces ?? []) + [workspace.directory]
                        conflicts += found.map {
                            ConflictEntry(path: display($0.path, workspace), reason: $0.reason, theirs: $0.current, ours: $0.sandbox)
                        }
                    }
                } catch {
                    workspace.keep(treeChanges, status: StageChanges.Outcome.failed.rawValue)
                    report.outcome = .failed
                    report.message = error.description
                    report.workspaces = (report.workspaces ?? []) + [workspace.directory]
                }
            }
            if !conflicts.isEmpty { report.conflicts = conflicts }
        case .discard:
            if let busy = workspaces.first(where: { $0.status == "committing" }) {
                result.refused = "a commit of '\(busy.workdir)' from \(busy.directory) was interrupted; discarding it would leave the tree half-changed: run `sandlock-jobs recover` to complete it"
                return result
            }
            for workspace in workspaces {
                do { try workspace.discard() } catch {
                    result.refused = result.refused ?? error.description
                }
            }
            if result.refused != nil { return result }
            report.outcome = .aborted
            report.workspaces = nil
        case .keep(let outcome):
            for (index, workspace) in workspaces.enumerated() {
                workspace.keep(changes?[index] ?? nil, status: outcome.rawValue)
            }
            report.outcome = outcome
            report.workspaces = workspaces.map(\.directory)
        }
        return result
    }

    /// `sandlock-jobs commit|discard RUN STAGE`: settles the stage's kept workspaces (opened
    /// by the caller from `record.changes.workspaces`) and updates `record` as the runner
    /// would have, had the stage ended that way; the caller writes it with
    /// `RunDirectory.record(_:in:)` unless `refused` says nothing was done.
    public static func settleKept(_ record: inout StageRecord, _ workspaces: [Workspace], _ action: Action,
                                  run: RunRecord) -> Result {
        var report = record.changes ?? StageChanges(disposition: nil, outcome: .kept, trees: workspaces.map(\.workdir))
        let result = settle(workspaces, action, workdir: Runner.canonical(run.workdir), into: &report)
        if result.refused == nil { record.settle(report) }
        return result
    }
}

extension StageRecord {
    /// Takes a settled change report and sets the status it implies. At the stage's end:
    /// conflicts turn a stage whose processes succeeded into `conflict`, and changes that
    /// could not be recorded or applied into `failed`. Later (`commit`/`discard` of a kept
    /// workspace): a stage in `conflict` whose changes were committed or discarded is
    /// resolved and counts as the success it was; a new conflict makes a kept stage
    /// `conflict`. A stage whose processes failed stays `failed` whatever becomes of its
    /// changes.
    mutating func settle(_ report: StageChanges) {
        let conflicts = report.conflicts ?? []
        if status == .conflict, report.outcome == .committed || report.outcome == .aborted {
            status = .succeeded
            message = nil
        } else if !conflicts.isEmpty, status == .succeeded || status == .conflict {
            status = .conflict
            message = "\(conflicts.count) conflicting path\(conflicts.count == 1 ? "" : "s"), first \(conflicts[0].path): \(conflicts[0].reason)"
        } else if report.outcome == .failed, status == .succeeded {
            status = .failed
            message = "copy-on-write: \(report.message ?? "the changes could not be applied")"
        }
        changes = report
    }
}
