#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import SandlockCore

/// The content-addressed cache of a workdir, `<workdir>/.sandlock-jobs/cache/` (or
/// `--cache-dir`), mode 0700, out of every sandbox's reach like the run directory:
///
///     objects/<2 hex>/<sha256>        file contents (outputs, logs), named by their digest
///     entries/<2 hex>/<key>.json      a stage or shard that succeeded under that key
///     index/<id>.json                 the key parts of a stage's last stored run (--explain)
///     digests.tsv                     content digests by file identity (`ContentDigests`)
///
/// Every file is written to a temporary name and renamed, so a runner killed at any moment
/// leaves whole files only; an object is checked against its name whenever it is used, so a
/// corrupted one is a miss (and a warning), never a wrong output.
struct CacheStore: Sendable {
    let root: String
    let digests: ContentDigests

    init(root: String) throws(RunFileError) {
        self.root = root
        for directory in [root, root + "/objects", root + "/entries", root + "/index"] {
            do { try Files.makeDirectories(directory, mode: 0o700) } catch { throw .file(error) }
        }
        digests = ContentDigests(file: root + "/digests.tsv")
    }

    /// `<workdir>/.sandlock-jobs/cache`.
    static func defaultRoot(workdir: String) -> String { RunDirectory.stateDirectory(workdir: workdir) + "/cache" }

    func objectPath(_ digest: String) -> String { root + "/objects/" + digest.prefix(2) + "/" + digest }
    func entryPath(_ key: String) -> String { root + "/entries/" + key.prefix(2) + "/" + key + ".json" }
    func indexPath(manifest: String, stage: String) -> String {
        root + "/index/" + KeyParts.digest(manifest + "\u{0}" + stage).prefix(24) + ".json"
    }

    // MARK: Objects

    /// Copies the open file into the store (hashing it on the way) and returns its digest.
    func put(_ file: borrowing FileDescriptor) throws(CacheError) -> String {
        let temporary = root + "/objects/.incoming-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let digest: String
        do {
            let out = try FileDescriptor(opening: temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            digest = try Self.copy(file, to: out)
        } catch {
            unlink(temporary)
            throw CacheError("cannot store a file in \(root): \(error)")
        }
        let final = objectPath(digest)
        do { try Files.makeDirectories(FileSystem.directory(of: final), mode: 0o700) } catch {
            unlink(temporary)
            throw CacheError("\(error)")
        }
        guard rename(temporary, final) == 0 else {
            let failure = Errno.current
            unlink(temporary)
            throw CacheError("cannot store '\(final)': \(failure)")
        }
        digests.remember(digest, of: final, withChangeTime: false)
        return digest
    }

    /// Stores the file at `path` (the run directory's logs; not followed if a symlink).
    func put(path: String) throws(CacheError) -> String {
        // A log this run linked from the store is that object already; one with contents the
        // store holds needs no copy either.
        if let digest = digests.linkedObject(path) ?? SHA256.hex(ofFile: path), holds(digest) { return digest }
        let file: FileDescriptor
        do { file = try FileDescriptor(opening: path, flags: O_RDONLY | O_NOFOLLOW) } catch {
            throw CacheError("cannot store '\(path)': \(error)")
        }
        return try put(file)
    }

    /// Whether the object is there with the contents its name says.
    func holds(_ digest: String) -> Bool {
        digests.digest(of: objectPath(digest), withChangeTime: false) == digest
    }

    /// Hard-links a checked object to `path` (a run directory's log), copying it when the
    /// store is on another filesystem.
    func link(_ digest: String, to path: String) throws(CacheError) {
        guard holds(digest) else { throw CacheError("object \(digest) is missing or corrupted") }
        unlink(path)
        if Glibc.link(objectPath(digest), path) == 0 {
            digests.noteLinked(digest, at: path)
            return
        }
        do {
            try Files.writeAtomically(try Files.read(objectPath(digest)), to: path, durable: false)
        } catch {
            throw CacheError("cannot link \(objectPath(digest)) to '\(path)': \(error)")
        }
    }

    // MARK: Entries and index

    func entry(_ key: String) -> Result<CacheEntry, CacheError>? {
        let path = entryPath(key)
        guard Files.status(path) != nil else { return nil }
        do { return .success(try RecordCoding.decode(CacheEntry.self, path: path)) } catch {
            return .failure(CacheError("cache entry \(path) is unreadable (\(error))"))
        }
    }

    func write(_ entry: CacheEntry) throws(CacheError) {
        let path = entryPath(entry.key)
        do {
            try Files.makeDirectories(FileSystem.directory(of: path), mode: 0o700)
            try Files.writeAtomically(RecordCoding.encode(entry, pretty: false), to: path, mode: 0o600, durable: false)
        } catch {
            throw CacheError("cannot write cache entry: \(error)")
        }
    }

    func lastParts(manifest: String, stage: String) -> KeyParts? {
        try? RecordCoding.decode(KeyParts.self, path: indexPath(manifest: manifest, stage: stage))
    }

    func writeLastParts(_ parts: KeyParts, manifest: String, stage: String) {
        try? Files.writeAtomically(RecordCoding.encode(parts, pretty: false), to: indexPath(manifest: manifest, stage: stage),
                                   mode: 0o600, durable: false)
    }

    /// Copies `source` to `out` to its end and returns the SHA-256 of what went through.
    static func copy(_ source: borrowing FileDescriptor, to out: borrowing FileDescriptor) throws(Errno) -> String {
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = try source.read(into: buffer)
            if count == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            hasher.update(chunk)
            try out.writeAll(chunk)
        }
        return hex(hasher.finalize())
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes { text += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        return String(decoding: text, as: UTF8.self)
    }
}

/// Something the cache could not do: never a failure of the run, a warning and a miss.
struct CacheError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `entries/<key>.json`: what a succeeded stage or shard left, to be put back on a hit.
struct CacheEntry: Sendable, Codable {
    var key: String
    var stage: String
    /// The run that produced it.
    var run: String
    var created: Date
    /// Stage entries: the stage's record in the producing run.
    var record: StageRecord?
    /// Shard entries: the shard and its record.
    var shard: Int?
    var shardRecord: ShardRecord?
    /// Files of the stage's (or shard's) run directory entry, relative to it → digest.
    var files: [String: String]
    /// The producing run's stage (or shard) directory: a reuse links its `shards/` (or the
    /// shard's directory) with one symlink while it is there, else each file from the store.
    var origin: String?
    /// Outputs in the workdir as the run left them.
    var outputs: [OutputFile]
}

/// One output path, relative to the workdir, as a run left it.
struct OutputFile: Sendable, Codable, Hashable {
    enum Kind: String, Sendable, Codable { case file, symlink, directory, absent }
    var path: String
    var kind: Kind
    var sha256: String?
    var mode: UInt32?
    var target: String?
}
