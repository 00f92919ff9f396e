/// What runs that went side by side over the same tree changed, path by path, to find where
/// they disagree: the same path changed differently, or a change below a path that another
/// run deleted or replaced by a non-directory (merging both would lose one of them). The same
/// change made by both (the same directory created, the same bytes written) is no clash.
public struct TouchedPaths: Sendable {
    public struct Clash: Sendable, Hashable {
        public var path: String
        /// Who touched it before, and what it became for them (nil: removed).
        public var by: String
        public var theirs: FileEntry?
        /// What it becomes in the change set being checked.
        public var ours: FileEntry?
        public var reason: String
    }

    private var entries: [String: (entry: FileEntry?, by: String)] = [:]
    /// Every proper ancestor of a touched path, and the first run that changed something below it.
    private var below: [String: String] = [:]

    public init() {}

    public var isEmpty: Bool { entries.isEmpty }

    /// Where `changes` disagrees with what was added so far, by path.
    public func clashes(with changes: ChangeSet) -> [Clash] {
        var found: [String: Clash] = [:]
        for (path, ours) in changes.touched {
            if let earlier = entries[path] {
                if earlier.entry != ours {
                    found[path] = Clash(path: path, by: earlier.by, theirs: earlier.entry, ours: ours,
                                        reason: "changed differently by \(earlier.by)")
                }
                continue
            }
            if ours?.kind != .directory, let by = below[path] {
                found[path] = Clash(path: path, by: by, theirs: nil, ours: ours,
                                    reason: "\(by) changed paths below it, which this removes")
            }
            for ancestor in Self.ancestors(of: path) {
                guard let earlier = entries[ancestor], earlier.entry?.kind != .directory else { continue }
                found[ancestor] = Clash(path: ancestor, by: earlier.by, theirs: earlier.entry, ours: nil,
                                        reason: "removed by \(earlier.by), while this changes paths below it")
                break
            }
        }
        return found.values.sorted { $0.path < $1.path }
    }

    /// Records `changes` as made by `by`.
    public mutating func add(_ changes: ChangeSet, by: String) {
        for (path, entry) in changes.touched {
            entries[path] = (entry, by)
            for ancestor in Self.ancestors(of: path) where below[ancestor] == nil { below[ancestor] = by }
        }
    }

    /// `a/b/c` → `a/b`, `a` (nearest first).
    private static func ancestors(of path: String) -> [String] {
        var result: [String] = []
        var current = Substring(path)
        while let slash = current.lastIndex(of: "/") {
            current = current[..<slash]
            result.append(String(current))
        }
        return result
    }
}

extension ChangeSet {
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
