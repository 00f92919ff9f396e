/// Each shard of a fan-out over paths may read its own item: the runner adds the item to
/// the shard's `filesystem.read`, so the stage need not grant the whole dataset to every
/// shard. An item is granted only when its real path lies inside the fan-out's root
/// (`glob:` the pattern's directory before its first wildcard, `lines:` the workdir): a
/// symlink among the items cannot widen what a shard reads.
extension ItemSource {
    /// The directory a shard's item must lie in to be granted, or nil when the items are
    /// not paths (`items:`, `shards:`).
    public func itemRoot(workdir: String) -> String? {
        switch self {
        case .items, .shards, .matrix: return nil
        case .glob(let pattern, _):
            let fixed = pattern.split(separator: "/").prefix { !$0.contains(where: { "*?[\\".contains($0) }) }
            // A pattern without a wildcard matches itself: its root is its directory.
            let components = fixed.count == pattern.split(separator: "/").count ? fixed.dropLast() : fixed
            return "/" + components.joined(separator: "/")
        case .lines: return workdir
        }
    }
}

extension PlannedStage {
    /// For a fan-out over paths: the grants of its worker that give every shard the whole
    /// root anyway (the root itself, or a directory between it and the workdir), which the
    /// per-shard grant makes unnecessary. Grants above the workdir (`/usr` for the tools)
    /// are left alone.
    func grantsCoveringItemRoot(workdir: String) -> [String] {
        guard case .map(let map) = work, let root = map.source.itemRoot(workdir: workdir) else { return [] }
        let grants = map.worker.policy.fsReadable + map.worker.policy.fsWritable
        return grants.filter { grant in
            FileSystem.isInside(root, grant) && (grant == root || FileSystem.isInside(grant, workdir))
        }
    }
}
