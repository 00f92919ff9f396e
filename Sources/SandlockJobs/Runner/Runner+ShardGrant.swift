import SandlockCore

extension Runner {
    /// The read grant of a shard's own item (see `ItemSource.itemRoot`): the item's real
    /// path when it names a file or directory inside the fan-out's root; nil when it names
    /// nothing there (a `lines:` word, a path outside the root as written, a file not there).
    /// An item inside the root by name but not by real path (a symlink leading out), or in
    /// the runner's own files, fails the shard: granting it would widen what shards read.
    /// In a dry run an item is judged in the view the shard gets (upstream layers stacked on
    /// the real tree), where any symlink on its way is refused.
    func itemGrant(_ item: String, of map: PlannedMap, preview: LayeredView?) throws(StageSetupError) -> String? {
        guard let root = map.source.itemRoot(workdir: plan.workdir) else { return nil }
        let path = FileSystem.absolute(item, base: plan.workdir)
        guard FileSystem.isInside(path, root) else { return nil }
        let refused = { (why: String) in
            StageSetupError(message: "map.over: item '\(item)' \(why); a shard may read only its own item inside '\(root)', so it was not started")
        }
        let real: String
        if let preview, let viewed = viewPath(of: path) {
            guard preview.exists(viewed) else { return nil }
            guard preview.isPlain(viewed) else { throw refused("has a symlink on its way (dry run)") }
            real = viewed
        } else {
            guard let resolved = Self.resolved(path) else { return nil }
            guard FileSystem.isInside(resolved, Self.canonical(root)) else { throw refused("leads to '\(resolved)'") }
            real = resolved
        }
        let storage = Self.canonical(options.workspaceStorage ?? Workspace.defaultStorage)
        if let own = (runnerFiles + [storage]).first(where: { FileSystem.isInside(real, $0) }) {
            throw refused("is in the runner's own files ('\(own)')")
        }
        return real
    }
}
