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
        /// (pipeline members, shards): the result is the union. Callers check first that the
        /// two change sets do not touch the same path differently (`ChangeSet.conflicts`).
        case beside
    }

    /// Moves `other`'s upper into this workspace's upper (both over the same workdir, in the
    /// same storage, so every move is a rename), then removes `other`. A job runner collects
    /// the uppers of a stage's processes into one workspace this way.
    public func absorb(_ other: Workspace, order: MergeOrder) throws(SandboxError) {
        guard other.workdir == workdir else {
            throw .workspace("cannot merge the workspace of '\(other.workdir)' into one of '\(workdir)'")
        }
        do {
            try Self.merge(other.upperDirectory, into: upperDirectory, order: order)
            try FileSystem.removeTree(other.directory)
        } catch {
            throw .workspace("merging '\(other.upperDirectory)' into '\(upperDirectory)': \(error)")
        }
    }

    /// Layers `source` onto `target` (directories of uppers) entry by entry.
    private static func merge(_ source: String, into target: String, order: MergeOrder) throws(Errno) {
        for name in try FileSystem.entries(of: source) {
            let from = source + "/" + name, to = target + "/" + name
            guard let incoming = FileSystem.status(from) else { continue }
            guard let existing = FileSystem.status(to) else {
                try move(from, to)
                continue
            }
            guard incoming.st_mode.isDirectory && existing.st_mode.isDirectory else {
                // A file, link or whiteout replaces whatever was there.
                try FileSystem.removeTree(to)
                try move(from, to)
                continue
            }
            switch (FileSystem.isOpaque(from), order) {
            case (false, _):
                try merge(from, into: to, order: order)
                if chmod(to, incoming.st_mode & 0o7777) != 0 { throw Errno.current }
            case (true, .after):
                // The later run replaced the directory it saw, this upper's version included.
                try FileSystem.removeTree(to)
                try move(from, to)
            case (true, .beside):
                // Replaced beside additions to the same directory: keep both, opaque (the
                // lower contents stay hidden). The incoming directory carries the marker.
                try merge(to, into: from, order: .beside)
                try FileSystem.removeTree(to)
                try move(from, to)
            }
        }
    }

    private static func move(_ from: String, _ to: String) throws(Errno) {
        if rename(from, to) != 0 { throw Errno.current }
    }
}

extension ChangeSet {
    /// Paths both change sets touch with different results: two processes that ran side by
    /// side over the same tree and disagree. The same change made by both (the same
    /// directory created, the same bytes written) is not a conflict.
    public func conflicts(with other: ChangeSet) -> [String] {
        let theirs = other.touched
        return touched.filter { path, ours in theirs[path].map { $0 != ours } ?? false }.keys.sorted()
    }

    /// Each path the change set touches and what it becomes (nil: removed); a rename
    /// touches both of its paths.
    public var touched: [String: FileEntry?] {
        var result: [String: FileEntry?] = [:]
        for change in changes {
            if let from = change.from { result[from] = .some(nil) }
            result[change.path] = .some(change.after)
        }
        return result
    }
}

/// Editing an upper around a run: what a job runner adds before the sandbox starts and drops
/// after it ends.
extension Workspace {
    /// Drops what the run wrote at `relative` and below it: the path shows its lower version
    /// again (for paths the sandbox must not change through this workspace).
    public func forget(_ relative: String) throws(SandboxError) {
        try Self.checkRelative(relative)
        do { try FileSystem.removeTree(upperDirectory + "/" + relative) } catch {
            throw .workspace("removing '\(relative)' from '\(upperDirectory)': \(error)")
        }
    }

    /// Creates `relative` (and missing parents, mode 0755) in the upper before the sandbox
    /// starts: the sandbox sees it, and it is part of the change set unless the sandbox
    /// removes it.
    public func makeDirectory(_ relative: String) throws(SandboxError) {
        try Self.checkRelative(relative)
        var path = upperDirectory
        for component in relative.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
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
