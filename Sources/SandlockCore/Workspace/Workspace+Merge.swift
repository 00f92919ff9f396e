#if canImport(Glibc)
import Glibc
#endif

extension Workspace {
    /// How `absorb` combines another workspace's upper with this one's.
    public enum MergeOrder: Sendable {
        /// The other run saw this workspace's changes (it was stacked on this upper): its
        /// entries win, and its whiteouts and opaque directories hide this upper's entries too.
        case after
        /// The other run ran beside the ones already absorbed, over the same lower layers
        /// (pipeline members, shards), and made `changes`: the result is the union. Callers
        /// check first that the runs do not disagree (`TouchedPaths`). A directory both
        /// uppers hold keeps its mode unless `changes` changed it (a copy-up is no change).
        case beside(ChangeSet)
    }

    /// Moves `other`'s upper into this workspace's upper (both over the same workdir, in the
    /// same storage, so every move is a rename), then removes `other`. A job runner collects
    /// the uppers of a stage's processes into one workspace this way.
    public func absorb(_ other: Workspace, order: MergeOrder) throws(SandboxError) {
        guard other.workdir == workdir else {
            throw .workspace("cannot merge the workspace of '\(other.workdir)' into one of '\(workdir)'")
        }
        do {
            var changed: [String: FileEntry?]?
            if case .beside(let changes) = order { changed = changes.touched }
            try Self.merge(other.upperDirectory, into: upperDirectory, at: "", changed: changed)
            if case .beside(let changes) = order {
                for change in changes.changes where change.before?.kind == .directory && change.after?.kind == .directory {
                    if chmod(upperDirectory + "/" + change.path, mode_t(change.after!.mode)) != 0 { throw Errno.current }
                }
            }
            try Files.removeTree(other.directory)
        } catch {
            throw .workspace("merging '\(other.upperDirectory)' into '\(upperDirectory)': \(error)")
        }
    }

    /// Layers `source` onto `target` (directories of uppers) entry by entry; `relative` is
    /// their path in the tree. `changed`: a side-by-side run's touched paths (nil: the later
    /// run wins everywhere). Beside, an entry the run did not change (a copy-up: `touch`, an
    /// open for writing) never replaces another run's.
    private static func merge(_ source: String, into target: String, at relative: String,
                              changed: [String: FileEntry?]?) throws(Errno) {
        for name in try Directory.entries(atPath: source) {
            let from = source + "/" + name, to = target + "/" + name
            let path = relative.isEmpty ? name : relative + "/" + name
            // Never skipped: an entry that cannot be examined fails the merge (the process's
            // changes are then left out, and the stage says so).
            var incoming = stat()
            guard lstat(from, &incoming) == 0 else { throw Errno.current }
            guard let existing = Files.status(to) else {
                try move(from, to)
                continue
            }
            guard incoming.st_mode.isDirectory && existing.st_mode.isDirectory else {
                guard changed.map({ $0[path] != nil }) ?? true else { continue }
                // A file, link or whiteout replaces whatever was there. A directory made where
                // this upper has a whiteout or a file must hide what lies below it.
                try Files.removeTree(to)
                try move(from, to)
                if incoming.st_mode.isDirectory && !FileSystem.isOpaque(to) { try markOpaque(to) }
                continue
            }
            let replaced = FileSystem.isOpaque(from)
            if replaced && changed == nil {
                // The later run replaced the directory it saw, this upper's version included.
                try Files.removeTree(to)
                try move(from, to)
                continue
            }
            try merge(from, into: to, at: path, changed: changed)
            switch (replaced, changed) {
            case (_, nil):
                if chmod(to, incoming.st_mode & 0o7777) != 0 { throw Errno.current }
            case (false, _?):
                break
            case (true, let changed?):
                // Replaced beside additions to the same directory: both kept, the lower
                // contents hidden, and what the run deleted there gone from this upper too
                // (another run's copy-up of it, which would show through otherwise).
                if !FileSystem.isOpaque(to) { try markOpaque(to) }
                for (deleted, entry) in changed where entry == nil && deleted.hasPrefix(path + "/") {
                    try Files.removeTree(target + "/" + deleted.dropFirst(relative.isEmpty ? 0 : relative.count + 1))
                }
            }
        }
    }

    private static func move(_ from: String, _ to: String) throws(Errno) {
        if rename(from, to) != 0 { throw Errno.current }
    }

    /// Sets the opaque marker the overlays of this process read (see `mountsInUserNamespace`).
    private static func markOpaque(_ directory: String) throws(Errno) {
        let name = mountsInUserNamespace ? "user.overlay.opaque" : "trusted.overlay.opaque"
        try Files.setExtendedAttribute(name, of: directory, to: FileSystem.opaqueValue)
    }
}

/// Editing an upper around a run: what a job runner adds before the sandbox starts and drops
/// after it ends.
extension Workspace {
    /// Drops what the run wrote at `relative` and below it: the path shows its lower version
    /// again (for paths the sandbox must not change through this workspace).
    public func forget(_ relative: String) throws(SandboxError) {
        try Self.checkRelative(relative)
        do { try Files.removeTree(upperDirectory + "/" + relative) } catch {
            throw .workspace("removing '\(relative)' from '\(upperDirectory)': \(error)")
        }
    }

    /// Creates `relative` (and missing parents) in the upper before the sandbox starts, with
    /// the mode a process's mkdir would give them (0777 less the umask): the sandbox sees it,
    /// and it is part of the change set unless the sandbox removes it.
    public func makeDirectory(_ relative: String) throws(SandboxError) {
        try Self.checkRelative(relative)
        var path = upperDirectory
        for component in relative.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o777) != 0 && errno != EEXIST {
                throw .workspace("creating '\(path)': \(Errno.current)")
            }
        }
    }

    /// A path below the workdir, written relative to it, without `..`.
    private static func checkRelative(_ relative: String) throws(SandboxError) {
        guard !relative.isEmpty, !relative.hasPrefix("/"), !relative.split(separator: "/").contains("..") else {
            throw .workspace("'\(relative)' is not a path inside the workdir")
        }
    }
}
