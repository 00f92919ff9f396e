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
    /// The caller's workspaces (each possibly stacked on earlier ones), one overlay mount per
    /// workspace in the sandbox's one private mount namespace; left as they are after the run:
    /// the caller reads their changes, commits, discards, keeps or stacks them.
    ///
    /// The list must not be empty, the workdirs must be disjoint (none equal to or below
    /// another), and no workspace's storage may overlap any of the workdirs. The command starts
    /// in the policy's `cwd`, else in the first workspace's workdir.
    case attached([Workspace])
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
                // Kept with its status, so nobody takes it for an orphan and prunes it.
                workspace.keep(result.changes, status: "failed")
                result.outcome = .failed(error.description)
            }
        }
        return result
    }
}

extension WorkspaceMode {
    /// The workspaces a sandbox runs over for this mode, and the settlement of the one it
    /// creates from the policy (`.policy`, `.dryRun`); none for attached workspaces, which stay
    /// the caller's. Attached lists are checked here (see `attached`).
    func resolve(policy: Policy) throws(SandboxError) -> (workspaces: [Workspace], settlement: WorkspaceSettlement?) {
        switch self {
        case .attached(let workspaces):
            try Workspace.checkAttachable(workspaces)
            // Their storages are hidden in the sandbox; the policy's (or the default) may not be.
            let hidden = Set(workspaces.map(\.storage))
            let storage = policy.fsStorage ?? Workspace.defaultStorage
            if !hidden.contains(where: { Workspace.isSame(Workspace.canonicalPath(storage) ?? storage, orBelow: $0) }),
               let problem = Workspace.storageExposure(of: policy, storage: storage) {
                throw .invalidPolicy(problem)
            }
            return (workspaces, nil)
        case .policy, .dryRun:
            var dryRun = false
            if case .dryRun = self { dryRun = true }
            guard let workdir = policy.workdir else {
                if dryRun { throw .invalidPolicy("a dry run needs a workdir (--workdir)") }
                // No overlay, so nothing hides the storage: no grant may reach it.
                if let problem = Workspace.storageExposure(of: policy, storage: policy.fsStorage ?? Workspace.defaultStorage) {
                    throw .invalidPolicy(problem)
                }
                return ([], nil)
            }
            let workspace = try Workspace.create(workdir: workdir, storage: policy.fsStorage)
            return ([workspace], WorkspaceSettlement(workspace: workspace, onExit: policy.onExit,
                                                     onError: policy.onError, dryRun: dryRun))
        }
    }
}

extension Workspace {
    /// Workspaces one sandbox can run over together: at least one, workdirs pairwise
    /// disjoint (the overlays are mounted side by side, never one inside another), and no
    /// storage overlapping a workdir (the storages are hidden under a tmpfs after the mounts,
    /// and an upper inside a lower tree is what `create` refuses for a single workspace).
    static func checkAttachable(_ workspaces: [Workspace]) throws(SandboxError) {
        guard !workspaces.isEmpty else {
            throw .workspace("no workspace to attach: .attached needs at least one workspace")
        }
        for (index, first) in workspaces.enumerated() {
            for second in workspaces[(index + 1)...] {
                let (outer, inner) = isSame(second.workdir, orBelow: first.workdir) ? (first, second) : (second, first)
                if isSame(inner.workdir, orBelow: outer.workdir) {
                    let relation = inner.workdir == outer.workdir ? "is the same tree as" : "is inside"
                    throw .workspace("the workdirs of two attached workspaces overlap: '\(inner.workdir)' (workspace \(inner.id)) \(relation) '\(outer.workdir)' (workspace \(outer.id)); one sandbox can only run over disjoint trees")
                }
            }
        }
        for workspace in workspaces {
            let storage = workspace.storage
            for other in workspaces where isSame(storage, orBelow: other.workdir) || isSame(other.workdir, orBelow: storage) {
                throw .workspace("the storage '\(storage)' of workspace \(workspace.id) and the workdir '\(other.workdir)' of workspace \(other.id) overlap; keep every storage outside every attached workdir (set fs_storage)")
            }
        }
    }
}

extension Workspace {
    /// Why a sandbox with `policy`'s filesystem grants must not run while `storage` is not
    /// hidden from it (a sandbox without a copy-on-write workdir), or nil: a write grant that
    /// covers the storage or lies inside it. Writing the storage would let the sandbox
    /// plant workspaces and journals, or edit a kept workspace's upper before it is committed;
    /// reading it would show other runs' changes and the storage key. Paths are compared
    /// resolved (a grant or storage that does not exist yet as where it will be).
    public static func storageExposure(of policy: Policy, storage: String) -> String? {
        let place = { (path: String) in canonicalPath(path) ?? futureLocation(of: path) ?? path }
        let base = place(storage)
        // Write grants only: a read grant over the storage shows other runs' uppers (a leak
        // docs/security.md lists as open) but cannot plant anything, and refusing `-r /`
        // would refuse the most common read grant there is.
        for (field, paths) in [("fs_writable", policy.fsWritable)] {
            for grant in paths {
                let real = place(grant)
                if isSame(base, orBelow: real) || isSame(real, orBelow: base) {
                    let relation = isSame(base, orBelow: real) ? "covers" : "lies inside"
                    return "\(field): the grant '\(grant)' \(relation) the copy-on-write workspace storage '\(base)'; no sandbox may reach it (it could plant a commit journal that a later run replays, or read other runs' changes): grant a narrower path, or keep workspaces elsewhere with --fs-storage DIR (fs_storage)"
                }
            }
        }
        return nil
    }
}
