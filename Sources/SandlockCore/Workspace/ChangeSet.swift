#if canImport(Glibc)
import Glibc
#endif

/// One side of a change: what a path was before the run or is after it.
public struct FileEntry: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case file, directory, symlink, other
    }

    public var kind: Kind
    /// Permission bits (`st_mode & 07777`).
    public var mode: UInt32
    /// Bytes of a file (0 for directories).
    public var size: UInt64
    /// Lower-case hex SHA-256 of a file's contents.
    public var sha256: String?
    /// A symlink's target.
    public var target: String?
    /// Change time in nanoseconds since the epoch, kept for conflict checks (not reported).
    var ctimeNanoseconds: Int64 = 0

    public init(kind: Kind, mode: UInt32, size: UInt64, sha256: String? = nil, target: String? = nil) {
        self.kind = kind
        self.mode = mode
        self.size = size
        self.sha256 = sha256
        self.target = target
    }

    /// The entry at `path` (lstat, then the digest or the link target).
    init(path: String, info: stat) {
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = .file
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        default: kind = .other
        }
        mode = UInt32(info.st_mode & 0o7777)
        size = kind == .file || kind == .symlink ? UInt64(info.st_size) : 0
        sha256 = kind == .file ? SHA256.hex(ofFile: path) : nil
        target = kind == .symlink ? Files.readLink(path) : nil
        ctimeNanoseconds = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
    }

    /// Same content, type, mode and target (times and owners are not compared).
    func sameContent(as other: FileEntry) -> Bool {
        kind == other.kind && mode == other.mode && size == other.size && sha256 == other.sha256 && target == other.target
    }

    public static func == (lhs: FileEntry, rhs: FileEntry) -> Bool { lhs.sameContent(as: rhs) }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(mode)
        hasher.combine(sha256)
        hasher.combine(target)
    }
}

extension FileEntry {
    /// `file 644 12 bytes sha256 <hex>`, `directory 755`, `symlink -> target`: one version of
    /// a path, as conflicts report it.
    public var summary: String {
        let permissions = String(mode, radix: 8)
        switch kind {
        case .file: return "file \(permissions) \(size) bytes sha256 \(sha256 ?? "?")"
        case .symlink: return "symlink -> \(target ?? "?")"
        case .directory: return "directory \(permissions)"
        case .other: return "special file \(permissions)"
        }
    }
}

/// A path a run added, modified, deleted or renamed, relative to the workdir.
public struct Change: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case added = "A", modified = "M", deleted = "D", renamed = "R"
    }

    public var kind: Kind
    public var path: String
    /// The old path of a rename.
    public var from: String?
    public var before: FileEntry?
    public var after: FileEntry?
    /// Setuid/setgid bits the sandbox set on the new version, which a commit does not install
    /// (`after.mode` is without them); nil when there were none.
    public var strippedModeBits: UInt32?

    public init(kind: Kind, path: String, from: String? = nil, before: FileEntry?, after: FileEntry?,
                strippedModeBits: UInt32? = nil) {
        self.kind = kind
        self.path = path
        self.from = from
        self.before = before
        self.after = after
        self.strippedModeBits = strippedModeBits
    }

    /// `A path`, `M path`, `D path` or `R old -> new`.
    public var summaryLine: String {
        kind == .renamed ? "R \(from ?? "?") -> \(path)" : "\(kind.rawValue) \(path)"
    }
}

/// Every path a sandboxed run changed under its workdir, computed from the workspace's upper
/// directory against the layers below it (whiteouts and opaque directories decoded). A
/// deleted directory lists each deleted path below it; files deleted and added with the same
/// digest are reported as renames.
public struct ChangeSet: Sendable, Hashable {
    /// Sorted by path.
    public var changes: [Change]

    public init(changes: [Change]) {
        self.changes = changes.sorted { $0.path < $1.path }
    }

    public var isEmpty: Bool { changes.isEmpty }

    /// One line per change (`A path`, `M path`, `D path`, `R old -> new`), like `git status --short`.
    public var summary: String {
        changes.map { $0.summaryLine + "\n" }.joined()
    }

    /// Pairs deleted and added files with the same (non-empty) contents into renames; among
    /// several candidates, one with the same file name wins.
    static func detectingRenames(_ changes: [Change]) -> [Change] {
        var deletedByDigest: [String: [Int]] = [:]
        for (index, change) in changes.enumerated()
        where change.kind == .deleted && change.before?.kind == .file && (change.before?.size ?? 0) > 0 {
            if let digest = change.before?.sha256 { deletedByDigest[digest, default: []].append(index) }
        }
        guard !deletedByDigest.isEmpty else { return changes }
        var consumed = Set<Int>()
        var result: [Change] = []
        for change in changes {
            guard change.kind == .added, let after = change.after, after.kind == .file, after.size > 0,
                  let digest = after.sha256, let candidates = deletedByDigest[digest]
            else {
                result.append(change)
                continue
            }
            let open = candidates.filter { !consumed.contains($0) }
            let name = FileSystem.baseName(of: change.path)
            guard let pick = open.first(where: { FileSystem.baseName(of: changes[$0].path) == name }) ?? open.first else {
                result.append(change)
                continue
            }
            consumed.insert(pick)
            result.append(Change(kind: .renamed, path: change.path, from: changes[pick].path,
                                 before: changes[pick].before, after: after, strippedModeBits: change.strippedModeBits))
        }
        // result[i] stands for changes[i]: drop the deletions that became renames.
        return result.enumerated().filter { !consumed.contains($0.offset) }.map(\.element)
    }

    /// `changes.json`: `{"changes": [{"kind", "path", "from"?, "before"?, "after"?, "stripped"?}]}`
    /// (`stripped`: the setuid/setgid bits not installed, octal); an
    /// entry has `type`, `mode` (octal string), `size`, `sha256` and `target` when they apply.
    public func json() -> String {
        var out = "{\n  \"changes\": ["
        for (index, change) in changes.enumerated() {
            out += index == 0 ? "\n" : ",\n"
            out += "    {\"kind\": \"\(change.kind.rawValue)\", \"path\": \(JSONText.quote(change.path))"
            if let from = change.from { out += ", \"from\": \(JSONText.quote(from))" }
            if let before = change.before { out += ", \"before\": \(JSONText.entry(before))" }
            if let after = change.after { out += ", \"after\": \(JSONText.entry(after))" }
            if let stripped = change.strippedModeBits { out += ", \"stripped\": \"\(String(stripped, radix: 8))\"" }
            out += "}"
        }
        out += changes.isEmpty ? "]\n}\n" : "\n  ]\n}\n"
        return out
    }
}

/// JSON text for the few records the engine writes (no Foundation in the engine). A quoted
/// string is a TOML basic string too (profiles): DEL is escaped for TOML's sake.
enum JSONText {
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func entry(_ entry: FileEntry) -> String {
        var out = "{\"type\": \"\(entry.kind.rawValue)\", \"mode\": \"\(String(entry.mode, radix: 8))\", \"size\": \(entry.size)"
        if let digest = entry.sha256 { out += ", \"sha256\": \"\(digest)\"" }
        if let target = entry.target { out += ", \"target\": \(quote(target))" }
        return out + "}"
    }
}
