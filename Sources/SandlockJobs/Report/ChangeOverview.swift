/// A change set in a few lines: how many paths were added, modified, deleted and renamed
/// under each of the directories that hold the most changes (two levels deep), for the dry
/// run summary; `--verbose` prints every path instead.
struct ChangeOverview {
    /// Directories shown; the rest are counted in one line.
    static let directoriesShown = 10
    /// Path components a directory is cut to.
    static let depth = 2

    struct Directory {
        var path: String
        var counts: [Character: Int] = [:]
        var total: Int { counts.values.reduce(0, +) }
    }

    let directories: [Directory]

    /// `changes.txt` lines: `A path`, `M path`, `D path`, `R old -> new` (the new path counts).
    init(lines: some Sequence<Substring>) {
        var byPath: [String: Directory] = [:]
        for line in lines {
            guard let kind = line.first, line.count > 2 else { continue }
            var path = line.dropFirst(2)
            if kind == "R", let arrow = path.firstRange(of: " -> ") { path = path[arrow.upperBound...] }
            let components = path.split(separator: "/")
            let directory = components.count <= 1 ? "." : components.dropLast().prefix(Self.depth).joined(separator: "/") + "/"
            byPath[directory, default: Directory(path: directory)].counts[kind, default: 0] += 1
        }
        directories = byPath.values.sorted { ($0.total, $1.path) > ($1.total, $0.path) }
    }

    /// The lines of the overview, indented by `indent`.
    func text(indent: String) -> String {
        var out = ""
        for d in directories.prefix(Self.directoriesShown) {
            let counts = "AMDR".compactMap { kind in d.counts[kind].map { "\(kind) \($0)" } }.joined(separator: ", ")
            out += "\(indent)\(d.path)  \(counts)\n"
        }
        if directories.count > Self.directoriesShown {
            let rest = directories.dropFirst(Self.directoriesShown)
            out += "\(indent)… \(rest.count) more directories (\(rest.map(\.total).reduce(0, +)) paths)\n"
        }
        return out
    }
}
