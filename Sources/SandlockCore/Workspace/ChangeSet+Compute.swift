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
    init(upper: String, below lower: LayerStack) throws(Errno) {
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
    mutating func directory(_ relative: String, lowerIsDirectory: Bool, hidesLower: Bool) throws(Errno) {
        let upperDirectory = relative.isEmpty ? upper : upper + "/" + relative
        var seen = Set<String>()
        for name in try Directory.entries(atPath: upperDirectory) {
            let path = join(relative, name)
            let upperPath = upper + "/" + path
            guard let info = Files.status(upperPath) else { continue }
            seen.insert(name)
            let before = lowerIsDirectory ? lowerEntry(path) : nil
            if FileSystem.isWhiteout(info) {
                if let before { try deleted(path, before) }
                continue
            }
            let after = FileEntry(path: upperPath, info: info)
            if after.kind == .directory {
                switch before?.kind {
                case nil:
                    changes.append(Change(kind: .added, path: path, before: nil, after: after))
                    try directory(path, lowerIsDirectory: false, hidesLower: true)
                case .directory?:
                    if before?.mode != after.mode {
                        changes.append(Change(kind: .modified, path: path, before: before, after: after))
                    }
                    try directory(path, lowerIsDirectory: true, hidesLower: hidesLower || FileSystem.isOpaque(upperPath))
                default:
                    changes.append(Change(kind: .modified, path: path, before: before, after: after))
                    try directory(path, lowerIsDirectory: false, hidesLower: true)
                }
            } else if let before {
                if before.kind == .directory {
                    changes.append(Change(kind: .modified, path: path, before: before, after: after))
                    try deletedContents(of: path)
                } else if !before.sameContent(as: after) {
                    changes.append(Change(kind: .modified, path: path, before: before, after: after))
                }
            } else {
                changes.append(Change(kind: .added, path: path, before: nil, after: after))
            }
        }
        if hidesLower && lowerIsDirectory {
            for name in try lower.entries(of: relative) where !seen.contains(name) {
                let path = join(relative, name)
                if let before = lowerEntry(path) { try deleted(path, before) }
            }
        }
    }

    /// A deleted lower path, and every path below it.
    private mutating func deleted(_ path: String, _ before: FileEntry) throws(Errno) {
        changes.append(Change(kind: .deleted, path: path, before: before, after: nil))
        if before.kind == .directory { try deletedContents(of: path) }
    }

    private mutating func deletedContents(of path: String) throws(Errno) {
        for name in try lower.entries(of: path) {
            let child = join(path, name)
            if let before = lowerEntry(child) { try deleted(child, before) }
        }
    }
}
