#if canImport(Glibc)
import Glibc
#endif
import SandlockCore

/// What a stage's cache key is made of: one digest per labelled part (`command`,
/// `policy fs_readable`, `env GREETING`, `input data/a.txt`, `need prepare`, `shards`, and
/// the same with `reduce ` in front for a map stage's reducer). The key is the SHA-256 of
/// every part, sorted; the parts are kept in the store's index so `--explain` can name the
/// part that changed.
public struct KeyParts: Sendable, Codable, Hashable {
    public var parts: [String: String] = [:]

    /// Bumped when the key's recipe changes: every entry of an older runner is a miss.
    static let recipe = "sandlock-jobs cache 1"

    public var key: String {
        var text = Self.recipe + "\n"
        for (label, digest) in parts.sorted(by: { $0.key < $1.key }) { text += label + "\t" + digest + "\n" }
        return SHA256.hex(of: Array(text.utf8))
    }

    static func digest(_ text: String) -> String { SHA256.hex(of: Array(text.utf8)) }

    /// The parts of one process: its argv, every policy field but the environment (in the
    /// policy table's canonical form), and its environment variable by variable. The runner's
    /// `SANDLOCK_RUN_DIR` differs on every run and is left out.
    mutating func add(process: PlannedProcess, environment: [String: String], role: String = "") {
        parts[role + "command"] = Self.digest(process.argv.joined(separator: "\u{0}"))
        for field in Policy.fields {
            if case .environment = field.grammar { continue }
            parts[role + "policy " + field.name] = Self.digest(field.json(of: process.policy).rendered())
        }
        var env = process.policy.env
        env.merge(environment) { _, new in new }
        env["SANDLOCK_RUN_DIR"] = nil
        for (name, value) in env { parts[role + "env " + name] = Self.digest(value) }
    }

    /// Says what differs from `previous` (the parts of the stage's last stored run), most
    /// telling first: `command changed; policy changed: fs_readable`.
    func changes(since previous: KeyParts, workdir: String) -> String {
        var groups: [(title: String, names: [String])] = [
            ("command changed", []), ("policy changed", []), ("environment changed", []),
            ("inputs changed", []), ("upstream reran", []), ("items changed", []), ("settings changed", []), ("other", []),
        ]
        let labels = Set(parts.keys).union(previous.parts.keys).filter { parts[$0] != previous.parts[$0] }.sorted()
        for label in labels {
            // `reduce: policy fs_readable`, `member 1: command`: the role, then the part.
            let role = label.firstRange(of: ": ").map { String(label[..<$0.upperBound]) } ?? ""
            let bare = String(label.dropFirst(role.count))
            let (kind, name) = bare.firstIndex(of: " ").map { (String(bare[..<$0]), String(bare[bare.index(after: $0)...])) } ?? (bare, "")
            let group = switch kind {
            case "command": 0
            case "policy": 1
            case "env": 2
            case "input": 3
            case "need": 4
            case "shards": 5
            case "setting": 6
            default: 7
            }
            let shown = kind == "input" ? FileSystem.relativeOrAbsolute(name, to: workdir) : name
            groups[group].names.append(role + (group == 0 || group == 5 ? "" : shown))
        }
        let said = groups.filter { !$0.names.isEmpty }.map { group -> String in
            let names = group.names.map { $0.hasSuffix(": ") ? String($0.dropLast(2)) : $0 }.filter { !$0.isEmpty }
            guard !names.isEmpty else { return group.title }
            let more = names.count > 3 ? " (+\(names.count - 3) more)" : ""
            return group.title + ": " + names.prefix(3).joined(separator: ", ") + more
        }
        return said.isEmpty ? "nothing changed" : said.joined(separator: "; ")
    }
}

extension FileSystem {
    /// `data/a.txt` for a path inside `base`, else the path itself.
    static func relativeOrAbsolute(_ path: String, to base: String) -> String {
        path.hasPrefix(base + "/") ? String(path.dropFirst(base.count + 1)) : path
    }
}

/// An input that cannot be hashed: the stage does not start (its message names the path).
struct InputError: Error {
    var message: String
}

extension ContentDigests {
    /// `input <path>` parts for declared inputs: a path (a directory stands for every file
    /// under it, found by walking it) or a glob pattern; a path that does not exist is an
    /// error unless `missingAllowed` (a dry run, whose upstream stages committed nothing), a
    /// pattern may match nothing.
    func addInputs(_ declared: [String], missingAllowed: Bool, to key: inout KeyParts) throws(InputError) {
        for input in declared {
            let isPattern = input.contains { "*?[".contains($0) }
            let roots = isPattern ? FileSystem.glob(input) : [input]
            if !isPattern && Files.status(input) == nil {
                guard missingAllowed else {
                    throw InputError(message: "inputs: '\(input)' does not exist (declared in 'inputs:'; an upstream stage that writes it must be in 'needs:')")
                }
                key.parts["input " + input] = "missing"
                continue
            }
            for root in roots {
                for file in Self.files(under: root) {
                    key.parts["input " + file] = digest(of: file) ?? "unreadable"
                }
            }
        }
    }

    /// `path` itself, or every file and symlink under it when it is a directory (sorted).
    /// `intoLinkedDirectories` also walks symlinks to directories (a run directory's shards
    /// reused from an earlier run; nothing else, a link loop would never end).
    static func files(under path: String, intoLinkedDirectories: Bool = false) -> [String] {
        let status = intoLinkedDirectories ? Files.statusFollowingLinks : Files.status
        guard let info = status(path) else { return [] }
        guard info.st_mode & S_IFMT == S_IFDIR else { return [path] }
        var found: [String] = []
        var stack = [path]
        while let directory = stack.popLast() {
            for name in (try? Directory.entries(atPath: directory, names: .lossy)) ?? [] {
                let child = directory + "/" + name
                if let st = status(child), st.st_mode & S_IFMT == S_IFDIR { stack.append(child) } else { found.append(child) }
            }
        }
        return found.sorted()
    }
}
