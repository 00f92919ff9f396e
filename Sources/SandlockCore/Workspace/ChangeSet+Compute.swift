#if canImport(Glibc)
import Glibc
#endif

extension ChangeSet {
    /// Computes the change set of an overlay upper directory against the layers below it.
    ///
    /// Walks the upper only (the lower tree is looked up name by name, listed only below
    /// whiteouts and opaque or replaced directories), so the cost follows what the run wrote.
    /// Directories count as modified only when their mode changed; files only when their type,
    /// mode, contents or target did (a copy-up alone, or `touch`, is not a change).
    ///
    /// Nothing is skipped: an upper entry that cannot be examined (ENAMETOOLONG past PATH_MAX,
    /// a name that is not UTF-8, EACCES) fails the whole change set, naming it, so a commit
    /// never applies part of what the sandbox did (a move committed as its deletion alone).
    /// Setuid and setgid bits are never part of an entry's new version (`strippedModeBits`).
    init(upper: String, below lower: LayerStack) throws(FileError) {
        var scanner = Scanner(upper: upper, lower: lower)
        try scanner.directory("", lowerIsDirectory: true, hidesLower: false)
        self.init(changes: ChangeSet.detectingRenames(scanner.changes))
    }
}

private struct Scanner {
    let upper: String
    let lower: LayerStack
    var changes: [Change] = []

    init(upper: String, lower: LayerStack) {
        self.upper = upper
        self.lower = lower
    }

    private func join(_ directory: String, _ name: String) -> String {
        directory.isEmpty ? name : directory + "/" + name
    }

    private func lowerEntry(_ relative: String) -> FileEntry? {
        lower.locate(relative).map { FileEntry(path: $0.path, info: $0.info) }
    }

    /// `relative` is a directory in the upper. `hidesLower`: the lower directory's contents
    /// are not merged in (opaque, or the upper directory replaced a non-directory or nothing),
    /// so lower names missing from the upper were deleted.
    mutating func directory(_ relative: String, lowerIsDirectory: Bool, hidesLower: Bool) throws(FileError) {
        let upperDirectory = relative.isEmpty ? upper : upper + "/" + relative
        var seen = Set<String>()
        let names: [String]
        do { names = try Directory.entries(atPath: upperDirectory) } catch {
            throw FileError("list the changes in", upperDirectory, error)
        }
        for name in names {
            let path = join(relative, name)
            let upperPath = upper + "/" + path
            var info = stat()
            guard lstat(upperPath, &info) == 0 else { throw FileError("examine the change", upperPath, .current) }
            seen.insert(name)
            let before = lowerIsDirectory ? lowerEntry(path) : nil
            if FileSystem.isWhiteout(info) {
                if let before { try deleted(path, before) }
                continue
            }
            var after = FileEntry(path: upperPath, info: info)
            let stripped = after.mode & Self.privilegeBits
            after.mode &= ~Self.privilegeBits
            let change = { (kind: Change.Kind, before: FileEntry?) in
                Change(kind: kind, path: path, before: before, after: after, strippedModeBits: stripped == 0 ? nil : stripped)
            }
            if after.kind == .directory {
                switch before?.kind {
                case nil:
                    changes.append(change(.added, nil))
                    try directory(path, lowerIsDirectory: false, hidesLower: true)
                case .directory?:
                    if before?.mode != after.mode {
                        changes.append(change(.modified, before))
                    }
                    try directory(path, lowerIsDirectory: true, hidesLower: hidesLower || FileSystem.isOpaque(upperPath))
                default:
                    changes.append(change(.modified, before))
                    try directory(path, lowerIsDirectory: false, hidesLower: true)
                }
            } else if let before {
                if before.kind == .directory {
                    changes.append(change(.modified, before))
                    try deletedContents(of: path)
                } else if !before.sameContent(as: after) {
                    changes.append(change(.modified, before))
                }
            } else {
                changes.append(change(.added, nil))
            }
        }
        if hidesLower && lowerIsDirectory {
            for name in try lowerEntries(relative) where !seen.contains(name) {
                let path = join(relative, name)
                if let before = lowerEntry(path) { try deleted(path, before) }
            }
        }
    }

    /// A deleted lower path, and every path below it.
    /// setuid and setgid: never installed by a commit.
    static let privilegeBits: UInt32 = 0o6000

    private func lowerEntries(_ relative: String) throws(FileError) -> [String] {
        do { return try lower.entries(of: relative) } catch {
            throw FileError("list the lower layers at", relative.isEmpty ? "." : relative, error)
        }
    }

    private mutating func deleted(_ path: String, _ before: FileEntry) throws(FileError) {
        changes.append(Change(kind: .deleted, path: path, before: before, after: nil))
        if before.kind == .directory { try deletedContents(of: path) }
    }

    private mutating func deletedContents(of path: String) throws(FileError) {
        for name in try lowerEntries(path) {
            let child = join(path, name)
            if let before = lowerEntry(child) { try deleted(child, before) }
        }
    }
}
