#if canImport(Glibc)
import Glibc
#endif

/// A path the real tree changed since the workspace was created, which a commit refuses to
/// overwrite. Both versions are reported: the real tree's and the sandbox's.
public struct CommitConflict: Sendable, Hashable {
    public var path: String
    /// What the sandbox started from (nil: the path did not exist).
    public var expected: FileEntry?
    /// What the real tree has now (nil: absent).
    public var current: FileEntry?
    /// What the sandbox wants to put there (nil: a deletion).
    public var sandbox: FileEntry?
    public var reason: String
}

public enum CommitOutcome: Sendable, Hashable {
    /// Every change is in the real tree; the workspace is gone.
    case committed(changes: Int)
    /// Nothing was applied; the workspace is kept (status "conflict").
    case conflict([CommitConflict])
}

/// One step of a commit, as written to the journal before any is applied. Each is
/// idempotent, so replaying the whole journal after a crash completes the commit.
enum CommitOperation: Hashable {
    case remove(String)
    case directory(String)
    case file(String, mode: UInt32)
    case symlink(String, target: String)
    case chmod(String, mode: UInt32)

    var line: String {
        switch self {
        case .remove(let path): "remove\t\(Self.field(path))"
        case .directory(let path): "directory\t\(Self.field(path))"
        case let .file(path, mode): "file\t\(Self.field(path))\t\(String(mode, radix: 8))"
        case let .symlink(path, target): "symlink\t\(Self.field(path))\t\(Self.field(target))"
        case let .chmod(path, mode): "chmod\t\(Self.field(path))\t\(String(mode, radix: 8))"
        }
    }

    /// Parses one journal line. Every path must stay inside the workspace's upper and its
    /// workdir: relative, without empty, `.` or `..` components (a symlink target is data).
    init?(line: Substring) {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map { RecordText.decode(String($0)) }
        guard fields.count >= 2, Self.isConfined(fields[1]) else { return nil }
        let mode = fields.count > 2 ? UInt32(fields[2], radix: 8) : nil
        switch (fields[0], fields.count) {
        case ("remove", 2): self = .remove(fields[1])
        case ("directory", 2): self = .directory(fields[1])
        case ("file", 3): guard let mode else { return nil }; self = .file(fields[1], mode: mode)
        case ("symlink", 3): self = .symlink(fields[1], target: fields[2])
        case ("chmod", 3): guard let mode else { return nil }; self = .chmod(fields[1], mode: mode)
        default: return nil
        }
    }

    private static func field(_ text: String) -> String { RecordText.encode(text) }

    /// A relative path of plain components (no `/` at either end, no `//`, `.` or `..`).
    static func isConfined(_ path: String) -> Bool {
        !path.isEmpty && !path.split(separator: "/", omittingEmptySubsequences: false).contains { $0.isEmpty || $0 == "." || $0 == ".." }
            && !path.utf8.contains(0)
    }

    var path: String {
        switch self {
        case .remove(let path), .directory(let path), .file(let path, _), .symlink(let path, _), .chmod(let path, _): path
        }
    }
}

extension Workspace {
    /// Applies the change set to the real tree, journaled: the plan of operations is written
    /// (and synced) first, then applied file by file with atomic replaces (a temporary name in
    /// the same directory, then rename). A crash at any point leaves the journal, and the next
    /// workspace created on the same storage, or `recover`, completes it. Refuses, applying
    /// nothing, when a path it would touch changed in the real tree since the workspace was
    /// created; the workspace is then kept with status "conflict". `overwriting` applies the
    /// changes over such paths instead (the user looked at both versions and chose).
    public func commit(_ changes: ChangeSet? = nil, overwriting: Bool = false) throws(SandboxError) -> CommitOutcome {
        let changes = try { () throws(SandboxError) -> ChangeSet in
            if let changes { return changes }
            return try self.changes()
        }()
        let lock = try lockWorkdir()
        defer { withExtendedLifetime(lock) {} }  // held to the end
        // Parents are checked even with `overwriting`: a directory of the real tree replaced
        // by a symlink or removed would stop the commit half-way.
        let conflicts = overwriting ? parentConflicts(changes, reported: []) : self.conflicts(changes)
        if !conflicts.isEmpty {
            keep(changes, status: "conflict")
            return .conflict(conflicts)
        }
        let operations = try plan(changes)
        if Self.faultStep == -1 { kill(getpid(), SIGKILL) }
        // The upper's files and the workspace record are what a replay reads: on disk before
        // the journal that points at them.
        Files.syncFilesystem(of: directory)
        try writeJournal(operations)
        do { try apply(operations) } catch {
            setAside(error.description)
            throw error
        }
        return .committed(changes: changes.changes.count)
    }

    /// Writes (and syncs) the journal of `operations`, tagged with the storage key
    /// (`StorageKey`): `sandlock-journal 2`, one line per operation, `end`, `mac=<tag>`.
    func writeJournal(_ operations: [CommitOperation]) throws(SandboxError) {
        var journal = "sandlock-journal 2\n"
        for operation in operations { journal += operation.line + "\n" }
        journal += "end\n"
        journal += "mac=" + (try StorageKey.of(storage: storage)).tag("journal", id: id, workdir: workdir, journal) + "\n"
        do { try Files.writeAtomically(Array(journal.utf8), to: journalPath, mode: Self.recordMode, durable: true) } catch {
            throw .workspace("writing the commit journal '\(journalPath)': \(error)")
        }
    }

    /// The journal's operations, once it is shown to be this storage's: a regular file of the
    /// caller's without group or other access, tagged with the storage key for this workspace,
    /// every path confined (`CommitOperation.isConfined`). Anything else is refused, naming it.
    func readJournal() throws(SandboxError) -> [CommitOperation] {
        try Self.checkOwned(journalPath, directory: false)
        guard let info = Files.status(journalPath), info.st_mode & 0o077 == 0,
              let bytes = try? Files.read(journalPath, limit: 64 << 20, flags: O_NOFOLLOW | O_NONBLOCK) else {
            throw .workspace("the commit journal '\(journalPath)' is not readable as a file of uid \(geteuid()) with mode 0600: refusing to replay it")
        }
        guard let (body, tag) = RecordText.splitTag(String(decoding: bytes, as: UTF8.self), prefix: "mac="),
              StorageKey.same((try StorageKey.of(storage: storage)).tag("journal", id: id, workdir: workdir, body), tag) else {
            throw .workspace("the commit journal '\(journalPath)' is not authenticated by the storage key (planted, altered, or from an older version): refusing to replay it; inspect it and the workdir '\(workdir)'")
        }
        let lines = body.split(separator: "\n")
        guard lines.first == "sandlock-journal 2", lines.last == "end" else {
            throw .workspace("the commit journal '\(journalPath)' is damaged; inspect it and the workdir '\(workdir)'")
        }
        let operations = lines.dropFirst().dropLast().compactMap(CommitOperation.init(line:))
        guard operations.count == lines.count - 2 else {
            throw .workspace("the commit journal '\(journalPath)' has unreadable lines or paths outside the workspace: refusing to replay it")
        }
        return operations
    }

    /// Where a journal that could not be applied is set aside (`journal.failed`), with its
    /// reason in `failure` and status "failed": the tree holds part of the changes, and later
    /// runs over it are no longer blocked by a replay that cannot succeed.
    var failedJournalPath: String { directory + "/journal.failed" }

    func setAside(_ reason: String) {
        if rename(journalPath, failedJournalPath) == 0 { Files.syncDirectory(containing: journalPath) }
        try? Files.writeAtomically(Array((reason + "\n").utf8), to: directory + "/failure", mode: Self.recordMode, durable: true)
        try? Files.writeAtomically(Array("failed\n".utf8), to: statusPath, mode: Self.recordMode, durable: true)
    }

    /// Completes every commit a crash interrupted in `storage` (only those of workdirs at or
    /// below `workdir` when given) and returns their workspaces. Plans that never reached
    /// their journal are left: the real tree was not touched.
    ///
    /// A journal is replayed only when it is authentic (`readJournal`, in a workspace `open`
    /// accepts); any other journal in the storage is refused, naming it, and nothing of it is
    /// applied. A journal whose next operation cannot apply (the real tree changed under it)
    /// is set aside (`journal.failed`, status "failed") and reported: the others are still
    /// completed, and later calls no longer meet it.
    @discardableResult
    public static func recover(storage: String? = nil, workdir: String? = nil) throws(SandboxError) -> [Workspace] {
        let base = storage ?? defaultStorage
        var completed: [Workspace] = [], problems: [String] = []
        let names = (try? Directory.entries(atPath: base, names: .lossy)) ?? []
        for name in names where Files.status(base + "/" + name + "/journal") != nil {
            let workspace: Workspace
            do { workspace = try open(base + "/" + name) } catch {
                problems.append("'\(base)/\(name)/journal' belongs to no workspace this storage made: \(error)")
                continue
            }
            if let workdir, !isSame(workspace.workdir, orBelow: workdir) { continue }
            let lock = try workspace.lockWorkdir()
            defer { withExtendedLifetime(lock) {} }  // held to the end
            guard Files.status(workspace.journalPath) != nil else { continue }  // completed meanwhile
            let operations: [CommitOperation]
            do { operations = try workspace.readJournal() } catch {
                problems.append(error.description)
                continue
            }
            do {
                try workspace.apply(operations)
                completed.append(workspace)
            } catch {
                workspace.setAside(error.description)
                problems.append("\(error) (its journal is set aside as '\(workspace.failedJournalPath)' and the workspace kept with status failed: the tree holds part of its changes; inspect it, then commit the workspace again or discard it)")
            }
        }
        if !problems.isEmpty { throw .workspace(problems.joined(separator: "; ")) }
        return completed
    }

    /// Paths the real tree changed since the workspace was created, or that differ from what
    /// the change set started from, unless the real tree already has the sandbox's version.
    func conflicts(_ changes: ChangeSet) -> [CommitConflict] {
        var conflicts: [CommitConflict] = []
        func check(_ path: String, expected: FileEntry?, sandbox: FileEntry?) {
            let real = workdir + "/" + path
            let current = Files.status(real).map { FileEntry(path: real, info: $0) }
            // The real tree already is what the sandbox wants there (the same directory
            // created, the same file deleted): nothing to refuse.
            if current == sandbox { return }
            var reason: String?
            switch (expected, current) {
            case (nil, nil): break
            case (nil, _?): reason = "created in the real tree"
            case (_?, nil): reason = "deleted in the real tree"
            case let (expected?, current?):
                if !expected.sameContent(as: current) {
                    reason = "changed in the real tree"
                } else if lowers.isEmpty, current.ctimeNanoseconds > createdNanoseconds {
                    // Written while the sandbox ran: it may have read the old version.
                    reason = "changed in the real tree during the run"
                }
            }
            if let reason {
                conflicts.append(CommitConflict(path: path, expected: expected, current: current, sandbox: sandbox, reason: reason))
            }
        }
        for change in changes.changes {
            if change.kind == .renamed, let from = change.from {
                check(from, expected: change.before, sandbox: nil)
                check(change.path, expected: nil, sandbox: change.after)
            } else {
                check(change.path, expected: change.before, sandbox: change.after)
            }
        }
        return conflicts + parentConflicts(changes, reported: Set(conflicts.map(\.path)))
    }

    /// Directories a commit goes through without changing them (the parents of changed
    /// paths that are not changes themselves) that are no longer directories in the real
    /// tree: removed, or replaced by a symlink or a file. The commit would stop at them.
    func parentConflicts(_ changes: ChangeSet, reported: Set<String>) -> [CommitConflict] {
        var changed = Set<String>()
        for change in changes.changes {
            changed.insert(change.path)
            if let from = change.from { changed.insert(from) }
        }
        var parents = Set<String>()
        for path in changed {
            var parent = Files.parent(of: path)
            while parent != "." && parents.insert(parent).inserted { parent = Files.parent(of: parent) }
        }
        var conflicts: [CommitConflict] = []
        var below: [String] = []  // reported parents: what lies under them is reached through them
        for parent in parents.sorted() where !changed.contains(parent) && !reported.contains(parent) {
            if below.contains(where: { parent.hasPrefix($0 + "/") }) { continue }
            let current = Files.status(workdir + "/" + parent).map { FileEntry(path: workdir + "/" + parent, info: $0) }
            guard current?.kind != .directory else { continue }
            let expected = lowerStack.locate(parent).map { FileEntry(path: $0.path, info: $0.info) }
            let reason = current == nil ? "a directory the changes are in, deleted in the real tree"
                : "a directory the changes are in, replaced in the real tree by a \(current!.kind == .symlink ? "symlink" : "non-directory")"
            conflicts.append(CommitConflict(path: parent, expected: expected, current: current, sandbox: expected, reason: reason))
            below.append(parent)
        }
        return conflicts
    }

    /// Removals first (a replaced or renamed path goes before its new version is installed),
    /// then directories, files and symlinks parents first, then directory modes deepest first
    /// (a directory made read-only last).
    func plan(_ changes: ChangeSet) throws(SandboxError) -> [CommitOperation] {
        var removals: [String] = [], installs: [CommitOperation] = [], modes: [CommitOperation] = []
        for change in changes.changes {
            switch change.kind {
            case .deleted: removals.append(change.path)
            case .renamed: if let from = change.from { removals.append(from) }
            case .modified where change.before?.kind != change.after?.kind: removals.append(change.path)
            default: break
            }
            guard let after = change.after else { continue }
            switch after.kind {
            case .directory:
                if change.before?.kind != .directory { installs.append(.directory(change.path)) }
                modes.append(.chmod(change.path, mode: after.mode))
            case .file:
                installs.append(.file(change.path, mode: after.mode))
            case .symlink:
                installs.append(.symlink(change.path, target: after.target ?? ""))
            case .other:
                throw .workspace("'\(change.path)' is a special file (device, fifo or socket); commit cannot install it")
            }
        }
        let depth = { (path: String) in path.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: "/") ? 1 : 0) } }
        return removals.sorted { depth($0) > depth($1) }.map { .remove($0) } + installs
            + modes.reversed()
    }

    /// Fault injection for crash tests: `SANDLOCK_FAULT_COMMIT_STEP=N` SIGKILLs the committing
    /// process after N operations (0: right after the journal is written, -1: just before).
    static var faultStep: Int? {
        getenv("SANDLOCK_FAULT_COMMIT_STEP").flatMap { Int(String(cString: $0)) }
    }

    /// Applies a journaled plan, then syncs the filesystem, drops the journal and the workspace.
    func apply(_ operations: [CommitOperation]) throws(SandboxError) {
        let fault = Self.faultStep
        if fault == 0 { kill(getpid(), SIGKILL) }
        let writer: TreeWriter
        do { writer = try TreeWriter(workdir) } catch {
            throw .pathNotFound(path: workdir, field: "workdir", error: error)
        }
        let upper: TreeWriter
        do { upper = try TreeWriter(upperDirectory) } catch {
            throw .workspace("commit of '\(workdir)': cannot open the upper '\(upperDirectory)': \(error)")
        }
        for (index, operation) in operations.enumerated() {
            do { try apply(operation, index: index, writer, from: upper) } catch {
                throw .workspace("commit of '\(workdir)' stopped at '\(operation.line)' (operation \(index + 1) of \(operations.count)): \(error)")
            }
            if let fault, index + 1 == fault { kill(getpid(), SIGKILL) }
        }
        Files.syncFilesystem(of: workdir)
        unlink(journalPath)
        Files.syncDirectory(containing: journalPath)
        try? Files.removeTree(directory)
    }

    /// One operation, beneath the workdir without following its symlinks (`TreeWriter`); a
    /// file's source is reached the same way beneath the upper, and must be a regular file.
    /// Setuid and setgid bits are never installed, nor file capabilities.
    private func apply(_ operation: CommitOperation, index: Int, _ writer: borrowing TreeWriter,
                       from upper: borrowing TreeWriter) throws(Errno) {
        let scratch = ".sandlock-commit-\(id)-\(index)"
        switch operation {
        case .remove(let path):
            do {
                try writer.withParent(of: path) { (directory, name) throws(Errno) in try writer.remove(name, in: directory) }
            } catch .ENOENT {
                // Its directory is gone already (removed earlier in this plan, or a replay).
            }
        case .directory(let path):
            try writer.withParent(of: path) { (directory, name) throws(Errno) in
                if let info = try? directory.status(of: name), !info.st_mode.isDirectory {
                    try writer.remove(name, in: directory)
                }
                do throws(Errno) { try directory.makeDirectory(name, mode: 0o700) } catch .EEXIST {}
            }
        case let .file(path, mode):
            try upper.withParent(of: path) { (source, sourceName) throws(Errno) in
                let info = try source.status(of: sourceName)
                guard info.st_mode & S_IFMT == S_IFREG else { throw Errno.EINVAL }
                try writer.withParent(of: path) { (directory, name) throws(Errno) in
                    try? directory.removeEntry(scratch)
                    // Same filesystem: the upper's file itself (a hard link), else a copy.
                    if (try? directory.makeLink(scratch, toEntry: sourceName, in: source)) == nil {
                        let input = try FileDescriptor(opening: sourceName, in: source, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
                        try FileSystem.copyFile(from: input, to: scratch, in: directory, mode: 0o600)
                        try? directory.setTimes(of: scratch, access: info.st_atim, modification: info.st_mtim)
                    }
                    FileSystem.removeOverlayAttributes(directory.procPath + "/" + scratch)
                    try directory.changeMode(of: scratch, to: mode_t(mode & 0o1777))
                    try writer.replace(name, with: scratch, in: directory)
                }
            }
        case let .symlink(path, target):
            try writer.withParent(of: path) { (directory, name) throws(Errno) in
                try? directory.removeEntry(scratch)
                try directory.makeSymlink(scratch, to: target)
                try writer.replace(name, with: scratch, in: directory)
            }
        case let .chmod(path, mode):
            try writer.changeMode(path, mode & 0o1777)
        }
    }

    /// flock(LOCK_EX) on the workdir: one commit or recovery at a time per tree.
    /// The lock is held until the returned descriptor closes.
    private func lockWorkdir() throws(SandboxError) -> FileDescriptor {
        let directory: FileDescriptor
        do { directory = try FileDescriptor(opening: workdir, flags: O_RDONLY | O_DIRECTORY) } catch {
            throw .pathNotFound(path: workdir, field: "workdir", error: error)
        }
        do { try directory.lock() } catch {
            throw .systemCall("flock(\(workdir))", error)
        }
        return directory
    }
}
