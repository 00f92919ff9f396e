/// What happens to a workspace when its sandbox ends (sandlock's `BranchAction`).
public enum Disposition: String, Sendable, Hashable, Codable, CaseIterable {
    /// Apply the changes to the real tree (journaled; see `Workspace.commit`).
    case commit
    /// Throw the changes away.
    case abort
    /// Leave the workspace on disk, to commit or discard later (`Workspace.list`, `open`).
    case keep
}

/// How a sandbox uses a copy-on-write workspace.
public enum WorkspaceMode: Sendable {
    /// As the policy says: a fresh workspace over `workdir` (if set), settled by `on_exit`
    /// when the command exits 0 and by `on_error` otherwise (including timeouts, limit kills
    /// and signals).
    case policy
    /// Like `.policy`, but always aborted; the result lists what would have changed.
    case dryRun
    /// The caller's workspace (possibly stacked on earlier ones); left as it is after the run:
    /// the caller reads its changes, commits, discards, keeps or stacks it.
    case attached(Workspace)
}

/// What became of a sandbox's workspace.
public struct WorkspaceResult: Sendable {
    public enum Outcome: Sendable, Hashable {
        case committed
        case aborted
        case kept
        /// The real tree changed under the run; nothing applied, the workspace is kept.
        case conflict([CommitConflict])
        /// The change set or the commit failed; the workspace is kept (an interrupted commit
        /// is completed by `Workspace.recover`).
        case failed(String)
    }

    public var workspace: Workspace
    /// The disposition the run's outcome selected (`abort` for a dry run).
    public var disposition: Disposition
    /// What the run changed; nil when it was aborted without a dry run (not computed).
    public var changes: ChangeSet?
    public var outcome: Outcome
}

/// A workspace the sandbox created from its policy, settled when the command ends.
struct WorkspaceSettlement: Sendable {
    let workspace: Workspace
    let onExit: Disposition
    let onError: Disposition
    let dryRun: Bool
    /// Created by the sandbox from its policy (settled by it), not attached by the caller.
    let owned: Bool

    func settle(success: Bool) -> WorkspaceResult {
        let disposition = dryRun ? .abort : success ? onExit : onError
        var result = WorkspaceResult(workspace: workspace, disposition: disposition, changes: nil, outcome: .aborted)
        if disposition != .abort || dryRun {
            do { result.changes = try workspace.changes() } catch {
                workspace.keep(nil, status: "failed")
                result.outcome = .failed(error.description)
                return result
            }
        }
        switch disposition {
        case .abort:
            do { try workspace.discard() } catch { result.outcome = .failed(error.description) }
        case .keep:
            workspace.keep(result.changes)
            result.outcome = .kept
        case .commit:
            do {
                switch try workspace.commit(result.changes) {
                case .committed: result.outcome = .committed
                case .conflict(let conflicts): result.outcome = .conflict(conflicts)
                }
            } catch {
                result.outcome = .failed(error.description)
            }
        }
        return result
    }
}

extension WorkspaceSettlement {
    /// The workspace a sandbox uses for `mode`, or nil; `owned` when the sandbox created it
    /// (and settles it), not for an attached one.
    init?(_ mode: WorkspaceMode, policy: Policy) throws(SandboxError) {
        switch mode {
        case .attached(let workspace):
            self.init(workspace: workspace, onExit: .keep, onError: .keep, dryRun: false, owned: false)
        case .policy, .dryRun:
            guard let workdir = policy.workdir else {
                if case .dryRun = mode { throw .invalidPolicy("a dry run needs a workdir (--workdir)") }
                return nil
            }
            let workspace = try Workspace.create(workdir: workdir, storage: policy.fsStorage)
            var dryRun = false
            if case .dryRun = mode { dryRun = true }
            self.init(workspace: workspace, onExit: policy.onExit, onError: policy.onError, dryRun: dryRun, owned: true)
        }
    }
}
