#if canImport(Glibc)
import Glibc
#endif

/// A read-only view of a tree with workspace uppers stacked above it, as a sandbox attached
/// to a workspace stacked on those uppers sees it (whiteouts and opaque directories
/// honoured). A job runner's dry run reads what upstream stages would have written this way.
public struct LayeredView: Sendable {
    public let tree: String
    private let stack: LayerStack

    /// `layers`: upper directories, topmost first, above the real `tree`.
    public init(tree: String, layers: [String]) {
        self.tree = tree
        stack = LayerStack(layers: layers + [tree])
    }

    /// The contents of the file at `path` (absolute, inside the tree) as the view shows it;
    /// nil when it is absent there (deleted by an upper, or never there) or unreadable.
    public func contents(of path: String) -> [UInt8]? {
        guard let relative = relative(path), let found = stack.locate(relative) else { return nil }
        return try? Files.read(found.path, flags: O_NOFOLLOW)
    }

    /// Whether `path` (absolute, inside the tree) is in the view.
    public func exists(_ path: String) -> Bool {
        relative(path).flatMap { stack.locate($0) } != nil
    }

    /// Whether `path` (absolute, inside the tree) is in the view with no symlink at its end
    /// or on the way: opening it reaches what its name says.
    public func isPlain(_ path: String) -> Bool {
        guard let relative = relative(path) else { return false }
        var prefix = ""
        for component in relative.split(separator: "/") {
            prefix += prefix.isEmpty ? String(component) : "/" + component
            guard let found = stack.locate(prefix), found.info.st_mode & S_IFMT != S_IFLNK else { return false }
        }
        return true
    }

    /// The entry at `path` (absolute, inside the tree) as the view shows it: the file in the
    /// layer that provides it, and its lstat(2); nil when it is not in the view.
    public func entry(_ path: String) -> (location: String, info: stat)? {
        relative(path).flatMap { stack.locate($0) }.map { ($0.path, $0.info) }
    }

    /// The names in the directory at `path` (absolute, inside the tree, or the tree itself)
    /// as the view shows them, sorted; empty when it is no directory there.
    public func entries(of path: String) -> [String] {
        let inside = path == tree ? "" : relative(path)
        return inside.flatMap { try? stack.entries(of: $0) } ?? []
    }

    /// glob(3) over the view: `*`, `?` and `[…]` in any component of `pattern` (absolute,
    /// inside the tree); names starting with `.` only when the component does; a trailing `/`
    /// matches directories only (and is kept). Sorted absolute paths; nil when the view
    /// cannot answer like glob(3) (a symlink on the way, a `\` escape): glob the real tree.
    public func glob(_ pattern: String) -> [String]? {
        guard let relative = relative(pattern), !pattern.contains("\\") else { return nil }
        var matches = [""]
        for component in relative.split(separator: "/").map(String.init) {
            var next: [String] = []
            for prefix in matches {
                let join = { (name: String) in prefix.isEmpty ? name : prefix + "/" + name }
                if component.contains(where: { "*?[".contains($0) }) {
                    for name in (try? stack.entries(of: prefix)) ?? [] where fnmatch(component, name, FNM_PERIOD) == 0 {
                        next.append(join(name))
                    }
                } else if let found = stack.locate(join(component)) {
                    if found.info.st_mode & S_IFMT == S_IFLNK { return nil }
                    next.append(join(component))
                }
            }
            matches = next
        }
        let found = matches.filter { !$0.isEmpty }
        guard pattern.hasSuffix("/") else { return found.map { tree + "/" + $0 }.sorted() }
        return found.filter { stack.locate($0)?.info.st_mode.isDirectory == true }.map { tree + "/" + $0 + "/" }.sorted()
    }

    private func relative(_ path: String) -> String? {
        guard Workspace.isSame(path, orBelow: tree), path != tree else { return nil }
        return String(path.dropFirst(tree == "/" ? 1 : tree.count + 1))
    }
}
