#if canImport(Glibc)
import Glibc
#endif
import CSandlock
import Synchronization

/// A copy-on-write layer over a directory tree (the *workdir*): a sandbox attached to it sees
/// the tree at its usual paths, but everything it writes lands in the workspace's upper
/// directory; the real tree is untouched until `commit()`.
///
/// The default backend mounts OverlayFS on the workdir itself inside the sandbox's private
/// mount namespace (a user namespace too when the caller is not root, with `userxattr`);
/// the upper and overlay work directories live in the workspace's storage directory,
/// `<storage>/<id>/{upper,work}`. A workspace can be stacked on the uppers of earlier
/// workspaces (`stackedOn:`), which the sandbox then sees as lower layers above the real tree.
/// One sandbox can run over several workspaces on disjoint trees (`.attached([a, b])`): one
/// overlay each, all in its one mount namespace.
///
/// ```swift
/// let workspace = try Workspace.create(workdir: "/src/project")
/// let result = try await Sandbox(policy: policy).run(["make"], workspace: .attached([workspace]))
/// let changes = try workspace.changes()
/// print(changes.summary)
/// switch try workspace.commit(changes) { … }   // or workspace.discard(), or keep it
/// ```
public struct Workspace: Sendable, Hashable {
    /// How the copy-on-write view is made. Every backend fills an upper directory in
    /// overlayfs format (whiteouts, opaque directories), which change sets and commits read.
    public enum Backend: String, Sendable, Hashable {
        /// OverlayFS in a private mount namespace, set up by the sandbox's init.
        case overlayFS = "overlayfs"
    }

    /// A short unique name, the storage directory's last component.
    public let id: String
    /// The real tree (canonical path).
    public let workdir: String
    /// Uppers of earlier workspaces stacked above the real tree, topmost first.
    public let lowers: [String]
    /// `<storage>/<id>`: holds `upper/`, `work/`, the `workspace` record and, while a commit
    /// runs, its `journal`.
    public let directory: String
    public let backend: Backend
    /// When the workspace was created (CLOCK_REALTIME, ns): files of the real tree changed
    /// after it are conflicts at commit.
    public let createdNanoseconds: Int64

    public var upperDirectory: String { directory + "/upper" }
    var overlayWorkDirectory: String { directory + "/work" }
    var recordPath: String { directory + "/workspace" }
    var journalPath: String { directory + "/journal" }
    var statusPath: String { directory + "/status" }
    /// The mode of the workspace's records (`workspace`, `status`, `journal`, `changes.json`).
    static let recordMode: mode_t = 0o600

    /// The view the sandbox saw before it wrote anything: the stacked lowers over the real tree.
    var lowerStack: LayerStack { LayerStack(layers: lowers + [workdir]) }

    /// Where workspaces live unless a policy says otherwise (`fs_storage`):
    /// `$XDG_RUNTIME_DIR/sandlock-cow` when that directory is the caller's, else
    /// `/var/tmp/sandlock-cow-<uid>` (not /tmp: sandboxes are often granted /tmp, and no
    /// sandbox may reach a storage; see `storageExposure`). Created with mode 0700 and checked
    /// to be the caller's own.
    public static var defaultStorage: String {
        let uid = geteuid()
        if let runtime = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }), runtime.hasPrefix("/"),
           let info = Files.status(runtime), info.st_mode.isDirectory, info.st_uid == uid {
            return runtime + "/sandlock-cow"
        }
        if let info = Files.status("/var/tmp"), info.st_mode.isDirectory, info.st_uid == 0 { return "/var/tmp/sandlock-cow-\(uid)" }
        return "/tmp/sandlock-cow-\(uid)"
    }

    /// Creates an empty workspace over `workdir`. Any commit of this storage that a crash
    /// interrupted is completed first (see `recover`), unless `recovering` is false (a caller
    /// creating many workspaces at once has recovered already).
    public static func create(workdir: String, stackedOn lowers: [String] = [], storage: String? = nil,
                              backend: Backend = .overlayFS, recovering: Bool = true) throws(SandboxError) -> Workspace {
        guard let real = canonicalPath(workdir), let info = Files.status(real), info.st_mode.isDirectory else {
            throw .pathNotFound(path: workdir, field: "workdir", error: .current)
        }
        var stacked: [String] = []
        for lower in lowers {
            guard let path = canonicalPath(lower), Files.status(path)?.st_mode.isDirectory == true else {
                throw .pathNotFound(path: lower, field: "workdir lower layer", error: .current)
            }
            stacked.append(path)
        }
        let base = try prepareStorage(storage ?? defaultStorage)
        let key = try StorageKey.of(storage: base, create: true)
        if isSame(base, orBelow: real) || isSame(real, orBelow: base) {
            throw .workspace("fs_storage '\(base)' and the workdir '\(real)' overlap; keep the storage outside the workdir (set fs_storage)")
        }
        if recovering { _ = try recover(storage: base, workdir: real) }
        let id = newIdentifier()
        let workspace = Workspace(id: id, workdir: real, lowers: stacked, directory: base + "/" + id,
                                  backend: backend, createdNanoseconds: realtimeNanoseconds())
        do {
            if mkdir(workspace.directory, 0o700) != 0 { throw Errno.current }
            for path in [workspace.upperDirectory, workspace.overlayWorkDirectory] where mkdir(path, 0o755) != 0 {
                throw Errno.current
            }
            // Durable only once it matters: a commit or a keep syncs the storage first.
            try Files.writeAtomically(Array(workspace.record(key).utf8), to: workspace.recordPath, mode: recordMode, durable: false)
        } catch {
            try? Files.removeTree(workspace.directory)
            throw .workspace("cannot create the workspace in '\(base)': \(error)")
        }
        return workspace
    }

    /// Re-opens a workspace from its storage directory (a kept one, or one whose commit met a
    /// conflict). Only a workspace this storage made is opened: its directory and record are
    /// the caller's (no symlink, no group or other access), and the record carries a valid tag
    /// of the storage's key (`StorageKey`); anything else is refused, naming the file.
    public static func open(_ directory: String) throws(SandboxError) -> Workspace {
        let trimmed = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        let id = FileSystem.baseName(of: trimmed)
        let recordPath = trimmed + "/workspace"
        try checkOwned(trimmed, directory: true)
        try checkOwned(recordPath, directory: false)
        guard let bytes = try? Files.read(recordPath, limit: 1 << 20, flags: O_NOFOLLOW | O_NONBLOCK) else {
            throw .workspace("'\(trimmed)' is not a workspace (no readable 'workspace' record)")
        }
        guard let (body, tag) = RecordText.splitTag(String(decoding: bytes, as: UTF8.self), prefix: "mac=") else {
            throw .workspace("'\(recordPath)' carries no tag of the storage key: not a workspace this storage made (or made by an older version); refusing it")
        }
        var workdir: String?, lowers: [String] = [], created: Int64 = 0, backend = Backend.overlayFS
        for line in body.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals], value = RecordText.decode(String(line[line.index(after: equals)...]))
            switch key {
            case "workdir": workdir = value
            case "lower": lowers.append(value)
            case "created": created = Int64(value) ?? 0
            case "backend": backend = Backend(rawValue: value) ?? .overlayFS
            default: break
            }
        }
        guard let workdir else { throw .workspace("'\(recordPath)' names no workdir") }
        let key = try StorageKey.of(storage: canonicalPath(Files.parent(of: trimmed)) ?? Files.parent(of: trimmed))
        guard StorageKey.same(key.tag("workspace", id: id, workdir: workdir, body), tag) else {
            throw .workspace("'\(recordPath)' is not authenticated by the storage key (planted, or altered): refusing it; inspect and remove '\(trimmed)'")
        }
        return Workspace(id: id, workdir: workdir, lowers: lowers,
                         directory: trimmed, backend: backend, createdNanoseconds: created)
    }

    /// `path` (not followed) is the caller's, a directory or a regular file as asked, with no
    /// group or other write access (directories: no group or other access at all).
    static func checkOwned(_ path: String, directory: Bool) throws(SandboxError) {
        guard let info = Files.status(path) else {
            throw .workspace("'\(path)' does not exist")
        }
        let kind: mode_t = directory ? S_IFDIR : S_IFREG
        let forbidden: mode_t = directory ? 0o077 : 0o022
        guard info.st_mode & S_IFMT == kind, info.st_uid == geteuid(), info.st_mode & forbidden == 0 else {
            throw .workspace("'\(path)' must be a \(directory ? "directory" : "regular file") of uid \(geteuid()) without \(directory ? "group or other access" : "group or other write access") (found uid \(info.st_uid), mode \(String(info.st_mode, radix: 8))): refusing it")
        }
    }

    /// The workspaces in a storage directory (kept, in conflict, or interrupted), oldest first.
    /// Entries that are not authentic workspaces are left out (see `refused`).
    public static func list(storage: String? = nil) -> [Workspace] {
        scan(storage: storage).workspaces
    }

    /// Entries of a storage that are not workspaces it made (`open` refuses them), each with
    /// the reason: planted by someone who could write the storage, or left by an older version.
    public static func refused(storage: String? = nil) -> [(directory: String, reason: String)] {
        scan(storage: storage).refused
    }

    private static func scan(storage: String?) -> (workspaces: [Workspace], refused: [(directory: String, reason: String)]) {
        let base = storage ?? defaultStorage
        // Lossy: a name that is not UTF-8 is refused below instead of hiding every workspace.
        let names = (try? Directory.entries(atPath: base, names: .lossy)) ?? []
        var workspaces: [Workspace] = [], refused: [(String, String)] = []
        for name in names where name != StorageKey.fileName && !name.hasPrefix(StorageKey.fileName + ".tmp-") {
            let path = base + "/" + name
            do { workspaces.append(try open(path)) } catch { refused.append((path, error.description)) }
        }
        return (workspaces.sorted { $0.createdNanoseconds < $1.createdNanoseconds }, refused)
    }

    /// What the sandbox changed: its upper directory decoded against the layers below.
    public func changes() throws(SandboxError) -> ChangeSet {
        do { return try ChangeSet(upper: upperDirectory, below: lowerStack) } catch {
            throw .workspace("reading the changes in '\(upperDirectory)': \(error)")
        }
    }

    /// Throws the workspace away; the real tree stays as it was.
    public func discard() throws(SandboxError) {
        do { try Files.removeTree(directory) } catch {
            throw .workspace("removing '\(directory)': \(error)")
        }
    }

    /// Marks the workspace as kept (for `list`) and writes its `changes.json`; it stays on disk
    /// until committed or discarded.
    public func keep(_ changes: ChangeSet?, status: String = "kept") {
        Files.syncFilesystem(of: directory)  // the upper and the record outlive a power loss
        if let changes { try? Files.writeAtomically(Array(changes.json().utf8), to: directory + "/changes.json", mode: Self.recordMode, durable: true) }
        try? Files.writeAtomically(Array((status + "\n").utf8), to: statusPath, mode: Self.recordMode, durable: true)
    }

    /// An "active" workspace whose creating process is gone (it was killed before settling
    /// it): nobody will commit or discard it. Judged only when that is certain: the machine
    /// rebooted since, or the creator's pid is free in the pid namespace it was created in.
    public var isOrphaned: Bool {
        guard status == "active", let bytes = try? Files.read(recordPath, flags: O_NOFOLLOW) else { return false }
        var boot: String?, pidNamespace: String?
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("boot=") { boot = String(line.dropFirst(5)) }
            if line.hasPrefix("pidns=") { pidNamespace = String(line.dropFirst(6)) }
        }
        guard let boot, let pidNamespace else { return false }
        if boot != Self.bootID { return true }
        // The id is `<time>-<pid>-<sequence>` (see `newIdentifier`).
        let fields = id.split(separator: "-")
        guard pidNamespace == Self.pidNamespace, fields.count == 3, let pid = Int32(fields[1]), pid > 0 else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    private static var bootID: String {
        (try? Files.read("/proc/sys/kernel/random/boot_id", limit: 64, flags: O_NOFOLLOW)).map { String(decoding: $0, as: UTF8.self).trimmingSpaces } ?? "?"
    }

    private static var pidNamespace: String { Files.readLink("/proc/self/ns/pid") ?? "?" }

    /// "kept", "conflict", "committing" (a commit was interrupted), or "active".
    public var status: String {
        if Files.status(journalPath) != nil { return "committing" }
        guard let bytes = try? Files.read(statusPath, flags: O_NOFOLLOW) else { return "active" }
        return String(decoding: bytes, as: UTF8.self).trimmingSpaces
    }

    private func record(_ key: StorageKey) -> String {
        var text = "version=2\nbackend=\(backend.rawValue)\nworkdir=\(RecordText.encode(workdir))\n"
        for lower in lowers { text += "lower=\(RecordText.encode(lower))\n" }
        // Whose it is, for `isOrphaned`.
        text += "boot=\(Self.bootID)\npidns=\(Self.pidNamespace)\n"
        text += "created=\(createdNanoseconds)\n"
        return text + "mac=\(key.tag("workspace", id: id, workdir: workdir, text))\n"
    }

    private static func prepareStorage(_ base: String) throws(SandboxError) -> String {
        guard base.hasPrefix("/") else { throw .workspace("fs_storage must be an absolute path, got '\(base)'") }
        do { try Files.makeDirectories(base, mode: 0o700) } catch {
            throw .workspace("cannot create the workspace storage '\(base)': \(error)")
        }
        guard let info = Files.status(base), info.st_mode.isDirectory else {
            throw .workspace("workspace storage '\(base)' is not a directory")
        }
        // Someone else's directory (or a symlink) in /tmp must not receive our uppers.
        guard info.st_uid == geteuid(), info.st_mode & 0o077 == 0 else {
            throw .workspace("workspace storage '\(base)' must be a directory of uid \(geteuid()) with mode 0700 (found uid \(info.st_uid), mode \(String(info.st_mode & 0o777, radix: 8)))")
        }
        return canonicalPath(base) ?? base
    }

    private static let counter = Atomic<UInt64>(0)

    private static func newIdentifier() -> String {
        let sequence = counter.add(1, ordering: .relaxed).newValue
        return String(UInt64(realtimeNanoseconds()), radix: 36) + "-\(getpid())-\(sequence)"
    }

    /// CLOCK_REALTIME. A file written before this reading has a ctime no later (filesystem
    /// clocks are coarse or, with multigrain timestamps, this fine clock); a change in the same
    /// coarse tick just after it can carry an equal ctime and go unnoticed.
    static func realtimeNanoseconds() -> Int64 {
        var seconds: Int64 = 0, nanoseconds: Int64 = 0
        _ = csl_clock_gettime(CLOCK_REALTIME, &seconds, &nanoseconds)
        return seconds * 1_000_000_000 + nanoseconds
    }

    /// realpath(3), or nil.
    static func canonicalPath(_ path: String) -> String? { DeniedPaths.resolved(path) }

    /// Where an absolute path that does not exist yet will be once created: its nearest
    /// existing ancestor resolved (symlinks followed), the missing components appended. Nil
    /// when it exists (or cannot be checked) or a missing component is `.` or `..`.
    public static func futureLocation(of path: String) -> String? {
        guard path.hasPrefix("/"), access(path, F_OK) != 0, errno == ENOENT else { return nil }
        var missing: [Substring] = []
        var existing = Substring(path)
        while let slash = existing.lastIndex(of: "/") {
            missing.insert(existing[existing.index(after: slash)...], at: 0)
            existing = existing[..<slash]
            guard let real = canonicalPath(existing.isEmpty ? "/" : String(existing)) else { continue }
            guard !missing.contains(where: { $0 == ".." || $0 == "." }) else { return nil }
            return (real == "/" ? "" : real) + "/" + missing.joined(separator: "/")
        }
        return nil
    }

    /// `path` is `root` or below it (both canonical).
    static func isSame(_ path: String, orBelow root: String) -> Bool {
        path == root || root == "/" || path.hasPrefix(root + "/")
    }
}

/// Line records (key=value, tab-separated fields): `%`, tabs, newlines and carriage returns
/// in values are percent-escaped.
enum RecordText {
    static func encode(_ text: String) -> String {
        text.replacingAll("%", with: "%25").replacingAll("\t", with: "%09").replacingAll("\n", with: "%0A")
            .replacingAll("\r", with: "%0D")
    }

    /// A text whose last line is `<prefix><tag>`: the text before that line and the tag.
    static func splitTag(_ text: String, prefix: String) -> (body: String, tag: String)? {
        guard text.hasSuffix("\n") else { return nil }
        let withoutNewline = text.dropLast()
        let start = withoutNewline.lastIndex(of: "\n").map { withoutNewline.index(after: $0) } ?? withoutNewline.startIndex
        let last = withoutNewline[start...]
        guard last.hasPrefix(prefix) else { return nil }
        return (String(text[..<start]), String(last.dropFirst(prefix.count)))
    }

    static func decode(_ text: String) -> String {
        text.replacingAll("%0D", with: "\r").replacingAll("%0A", with: "\n").replacingAll("%09", with: "\t")
            .replacingAll("%25", with: "%")
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard contains(target) else { return self }
        return split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }

    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\n" }.reversed().drop { $0 == " " || $0 == "\n" }.reversed())
    }
}
