#if canImport(Glibc)
import Glibc
#endif
import SandlockCore

/// A stage's outputs in the workdir, read into the store when the stage succeeded and put
/// back on a hit. The runner does this outside every sandbox, on paths a sandbox may have
/// shaped (a symlink where an output should be, a directory swapped for a link to /etc), so
/// every path is reached beneath the workdir with openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS) and its last component is never followed: an output behind a symlink
/// is not stored (the stage is not cached, and says why), and a restore never writes outside
/// the workdir. Contents are copied in and out, never linked: a later sandbox that may write
/// the output cannot reach the store's copy through it.
struct OutputTree {
    let workdir: String
    let store: CacheStore

    private func openWorkdir() throws(CacheError) -> FileDescriptor {
        do { return try FileDescriptor(opening: workdir, flags: O_RDONLY | O_DIRECTORY) } catch {
            throw CacheError("cannot open the workdir \(workdir): \(error)")
        }
    }

    private static func split(_ relative: String) -> (parent: String, name: String) {
        guard let slash = relative.lastIndex(of: "/") else { return (".", relative) }
        return (String(relative[..<slash]), String(relative[relative.index(after: slash)...]))
    }

    private func parent(of relative: String, in root: borrowing FileDescriptor, create: Bool) throws(CacheError) -> FileDescriptor? {
        let (parent, _) = Self.split(relative)
        do throws(Errno) { return try FileDescriptor(openingBeneath: parent, in: root, flags: O_RDONLY | O_DIRECTORY) } catch {
            if error == .ENOENT && !create { return nil }
            guard error == .ENOENT else { throw Self.unsafe(relative, error) }
        }
        // Made one component at a time, each beneath the one before.
        var done = ""
        for component in parent.split(separator: "/") {
            let next = done.isEmpty ? String(component) : done + "/" + component
            do throws(Errno) {
                let at = try FileDescriptor(openingBeneath: done.isEmpty ? "." : done, in: root, flags: O_RDONLY | O_DIRECTORY)
                try? at.makeDirectory(String(component), mode: 0o755)
            } catch {
                throw Self.unsafe(relative, error)
            }
            done = next
        }
        do throws(Errno) { return try FileDescriptor(openingBeneath: parent, in: root, flags: O_RDONLY | O_DIRECTORY) } catch {
            throw Self.unsafe(relative, error)
        }
    }

    private static func unsafe(_ relative: String, _ error: Errno) -> CacheError {
        error == .ELOOP || error == .EXDEV
            ? CacheError("output '\(relative)' lies behind a symlink or outside the workdir")
            : CacheError("output '\(relative)': \(error)")
    }

    // MARK: Storing

    /// Every declared output (workdir-relative) as it is now, directories walked; its files
    /// copied into the store.
    func snapshot(_ declared: [String]) throws(CacheError) -> [OutputFile] {
        let root = try openWorkdir()
        var found: [OutputFile] = []
        var pending = declared
        while let relative = pending.popLast() {
            guard let parent = try parent(of: relative, in: root, create: false) else {
                found.append(OutputFile(path: relative, kind: .absent))
                continue
            }
            let name = Self.split(relative).name
            guard let info = try? parent.status(of: name) else {
                found.append(OutputFile(path: relative, kind: .absent))
                continue
            }
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                let digest: String
                do {
                    let file = try FileDescriptor(opening: name, in: parent, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
                    digest = try store.put(file)
                } catch let error as CacheError {
                    throw error
                } catch {
                    throw CacheError("output '\(relative)': \(error)")
                }
                found.append(OutputFile(path: relative, kind: .file, sha256: digest, mode: UInt32(info.st_mode & 0o7777)))
            case S_IFLNK:
                let target = Files.readLink(workdir + "/" + relative) ?? ""
                found.append(OutputFile(path: relative, kind: .symlink, target: target))
            case S_IFDIR:
                found.append(OutputFile(path: relative, kind: .directory, mode: UInt32(info.st_mode & 0o7777)))
                let names: [String]
                do throws(Errno) {
                    let directory = try FileDescriptor(openingBeneath: relative, in: root, flags: O_RDONLY | O_DIRECTORY)
                    names = try Directory.entries(of: directory)
                } catch {
                    throw Self.unsafe(relative, error)
                }
                pending += names.map { relative + "/" + $0 }
            default:
                throw CacheError("output '\(relative)' is not a file, a directory or a symlink")
            }
        }
        return found.sorted { $0.path < $1.path }
    }

    // MARK: Putting back

    /// Whether the workdir holds the output as stored (contents, mode, kind).
    func holds(_ output: OutputFile) -> Bool {
        guard let root = try? openWorkdir() else { return false }
        guard let parent = try? parent(of: output.path, in: root, create: false) else { return output.kind == .absent }
        guard let info = try? parent.status(of: Self.split(output.path).name) else { return output.kind == .absent }
        let kind = info.st_mode & S_IFMT
        switch output.kind {
        case .absent: return false
        case .directory: return kind == S_IFDIR
        case .symlink: return kind == S_IFLNK && Files.readLink(workdir + "/" + output.path) == output.target
        case .file:
            return kind == S_IFREG && UInt32(info.st_mode & 0o7777) == output.mode
                && store.digests.digest(of: workdir + "/" + output.path) == output.sha256
        }
    }

    /// Makes the workdir hold the output: a file is copied from the store (checked against
    /// its digest on the way; a mismatch puts nothing there and is an error), then renamed
    /// over the path.
    func restore(_ output: OutputFile) throws(CacheError) {
        let root = try openWorkdir()
        let name = Self.split(output.path).name
        if output.kind == .absent {
            guard let parent = try parent(of: output.path, in: root, create: false) else { return }
            do { try parent.removeEntry(name) } catch {
                if error != .ENOENT { throw CacheError("cannot remove '\(output.path)': \(error)") }
            }
            return
        }
        guard let parent = try parent(of: output.path, in: root, create: true) else { return }
        switch output.kind {
        case .absent: return
        case .directory:
            do { try parent.makeDirectory(name, mode: mode_t(output.mode ?? 0o755)) } catch {
                if error != .EEXIST { throw CacheError("cannot make '\(output.path)': \(error)") }
            }
        case .symlink:
            let temporary = ".sandlock-cache-\(UInt64.random(in: 0...UInt64.max))"
            do {
                try parent.makeSymlink(temporary, to: output.target ?? "")
                try parent.renameEntry(temporary, to: name)
            } catch {
                try? parent.removeEntry(temporary)
                throw CacheError("cannot put back '\(output.path)': \(error)")
            }
        case .file:
            try copy(output, into: parent, name: name)
        }
    }

    private func copy(_ output: OutputFile, into parent: borrowing FileDescriptor, name: String) throws(CacheError) {
        let digest = output.sha256 ?? ""
        let temporary = ".sandlock-cache-\(UInt64.random(in: 0...UInt64.max))"
        let copied: String
        do {
            let source = try FileDescriptor(opening: store.objectPath(digest), flags: O_RDONLY | O_NOFOLLOW)
            let out = try FileDescriptor(opening: temporary, in: parent, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
            copied = try CacheStore.copy(source, to: out)
            try out.changeModeOfOpenFile(mode_t(output.mode ?? 0o644))
        } catch {
            try? parent.removeEntry(temporary)
            throw CacheError("cannot put back '\(output.path)' from object \(digest): \(error)")
        }
        guard copied == digest else {
            try? parent.removeEntry(temporary)
            throw CacheError("object \(digest) (output '\(output.path)') is corrupted: its contents no longer match its digest")
        }
        do { try parent.renameEntry(temporary, to: name) } catch {
            try? parent.removeEntry(temporary)
            throw CacheError("cannot put back '\(output.path)': \(error)")
        }
    }
}
