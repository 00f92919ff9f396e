#if canImport(Glibc)
import Glibc
#endif
import SandlockCore
import Synchronization

/// SHA-256 of file contents, remembered by (device, inode, size, mtime, ctime) in
/// `<cache>/digests.tsv`, so an unchanged input set of 10,000 files costs 10,000 stat(2)s on
/// a re-run, not 10,000 reads. Any write changes ctime (which no caller can set), so a
/// remembered digest is never that of other contents. The store's own objects are checked
/// without ctime: linking one into a run directory changes its ctime, and nothing but the
/// runner can reach the store.
final class ContentDigests: Sendable {
    struct Identity: Hashable, Sendable {
        var device: UInt64, inode: UInt64, size: Int64
        var modified: Int64, changed: Int64

        init(_ info: stat, withChangeTime: Bool) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = Int64(info.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(info.st_mtim.tv_nsec)
            changed = withChangeTime ? Int64(info.st_ctim.tv_sec) &* 1_000_000_000 &+ Int64(info.st_ctim.tv_nsec) : 0
        }
    }

    private struct State: Sendable {
        var known: [String: (Identity, String)] = [:]
        var dirty = false
        /// Store objects this run hard-linked into its run directory, by (device, inode):
        /// storing such a file again needs no copy (not saved).
        var linked: [Pair: String] = [:]
    }

    struct Pair: Hashable, Sendable {
        var device: UInt64, inode: UInt64
    }

    let file: String
    private let state = Mutex(State())

    init(file: String) {
        self.file = file
        var known: [String: (Identity, String)] = [:]
        let text = (try? Files.readText(file)) ?? ""
        for line in text.split(separator: "\n") {
            // device inode size mtime ctime sha256 path (the path may hold spaces)
            let fields = line.split(separator: " ", maxSplits: 6, omittingEmptySubsequences: false)
            guard fields.count == 7, let device = UInt64(fields[0]), let inode = UInt64(fields[1]),
                  let size = Int64(fields[2]), let modified = Int64(fields[3]), let changed = Int64(fields[4]),
                  fields[5].count == 64 else { continue }
            var identity = Identity(stat(), withChangeTime: false)
            (identity.device, identity.inode, identity.size, identity.modified, identity.changed) = (device, inode, size, modified, changed)
            known[String(fields[6])] = (identity, String(fields[5]))
        }
        state.withLock { $0.known = known }
    }

    /// The digest of the regular file at `path` (not following a final symlink), `symlink
    /// <target>` for a symlink, nil for anything else or an unreadable file.
    func digest(of path: String, withChangeTime: Bool = true) -> String? {
        guard let info = Files.status(path) else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFLNK: return Files.readLink(path).map { "symlink " + $0 }
        case S_IFREG: break
        default: return nil
        }
        let identity = Identity(info, withChangeTime: withChangeTime)
        if let (seen, digest) = state.withLock({ $0.known[path] }), seen == identity { return digest }
        // Stat'ed before it is read: a write meanwhile changes ctime, so the pair is never stale.
        guard let digest = SHA256.hex(ofFile: path) else { return nil }
        state.withLock { s in
            s.known[path] = (identity, digest)
            s.dirty = true
        }
        return digest
    }

    /// Remembers a digest the caller computed while writing the file (a store object).
    func remember(_ digest: String, of path: String, withChangeTime: Bool) {
        guard let info = Files.status(path) else { return }
        state.withLock { s in
            s.known[path] = (Identity(info, withChangeTime: withChangeTime), digest)
            s.dirty = true
        }
    }

    /// Notes that `path` (a run directory file) is a hard link of the object `digest`.
    func noteLinked(_ digest: String, at path: String) {
        guard let info = Files.status(path) else { return }
        state.withLock { $0.linked[Pair(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))] = digest }
    }

    /// The object `path` is a hard link of, when this run linked it.
    func linkedObject(_ path: String) -> String? {
        guard let info = Files.status(path) else { return nil }
        return state.withLock { $0.linked[Pair(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))] }
    }

    /// Writes the table when it changed (atomically; a lost write only costs re-reading).
    func save() {
        let lines: [String]? = state.withLock { s in
            guard s.dirty else { return nil }
            s.dirty = false
            // A name with a newline is not remembered (it would break the line format), nor
            // a file that is gone (the table would grow with every deleted input).
            return s.known.filter { !$0.key.contains("\n") && Files.status($0.key) != nil }.map { path, entry in
                let (i, digest) = entry
                return "\(i.device) \(i.inode) \(i.size) \(i.modified) \(i.changed) \(digest) \(path)\n"
            }
        }
        guard let lines, !file.isEmpty else { return }
        try? Files.writeAtomically(Array(lines.joined().utf8), to: file, mode: 0o600, durable: false)
    }
}
