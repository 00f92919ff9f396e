#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The secret that binds a storage's workspace records and commit journals to the storage
/// that wrote them: `<storage>/key`, 32 random bytes (getrandom(2)), created with
/// O_CREAT | O_EXCL | O_NOFOLLOW at mode 0600 when the storage is first used, and accepted only
/// as a regular file of the caller's with no group or other bits. A record or journal carries
/// HMAC-SHA256(key, purpose ‖ workspace id ‖ workdir ‖ text); one without a valid tag (planted
/// by someone who could write the storage but not read the key, or left by an older version)
/// is never opened, replayed or committed.
struct StorageKey: Sendable {
    let bytes: [UInt8]

    static let fileName = "key"
    /// Keys read so far, by storage, with the key file's identity (st_dev, st_ino): a storage
    /// removed and made again gets its new key.
    private static let counter = Atomic<UInt64>(0)
    private static let cache = Mutex<[String: (device: UInt64, inode: UInt64, bytes: [UInt8])]>([:])

    /// The key of the storage `base` (canonical). `create`: make it when missing (a storage
    /// `prepareStorage` checked, about to hold a new workspace); otherwise a storage without
    /// a key has no authentic workspaces, and nothing is written to it.
    static func of(storage base: String, create: Bool = false) throws(SandboxError) -> StorageKey {
        let path = base + "/" + fileName
        if let info = Files.status(path),
           let cached = cache.withLock({ $0[base] }), cached.device == UInt64(info.st_dev), cached.inode == UInt64(info.st_ino) {
            return StorageKey(bytes: cached.bytes)
        }
        var bytes: [UInt8]
        if Files.status(path) == nil {
            guard create else { throw .workspace("the storage '\(base)' has no key ('\(path)'): it holds no workspace this version made") }
            do throws(Errno) {
                // The kernel's CSPRNG (getrandom(2)'s source; Glibc's module does not export it).
                bytes = try FileDescriptor(opening: "/dev/urandom", flags: O_RDONLY).readAll(limit: 32)
                guard bytes.count == 32 else { throw Errno(rawValue: EIO) }
                // Written whole under a temporary name, then published with link(2), which
                // never replaces: a concurrent reader sees no key or the whole key, and of
                // two racing creators one key wins.
                let directory = try FileDescriptor(opening: base, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                let temporary = "\(fileName).tmp-\(getpid())-\(counter.add(1, ordering: .relaxed).newValue)"
                let file = try FileDescriptor(opening: temporary, in: directory, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
                defer { try? directory.removeEntry(temporary) }
                try file.writeAll(bytes)
                try file.sync()
                try directory.makeLink(fileName, toEntry: temporary, in: directory)
                try directory.sync()
            } catch .EEXIST {
                bytes = try read(path)  // made meanwhile by another process
            } catch {
                throw .workspace("cannot create the storage key '\(path)': \(error)")
            }
        } else {
            bytes = try read(path)
        }
        if let info = Files.status(path) {
            cache.withLock { $0[base] = (UInt64(info.st_dev), UInt64(info.st_ino), bytes) }
        }
        return StorageKey(bytes: bytes)
    }

    private static func read(_ path: String) throws(SandboxError) -> [UInt8] {
        do throws(Errno) {
            let file = try FileDescriptor(opening: path, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
            let info = try file.status()
            guard info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid(), info.st_mode & 0o077 == 0 else {
                throw .EACCES
            }
            let bytes = try file.readAll(limit: 64)
            guard bytes.count == 32 else { throw .EINVAL }
            return bytes
        } catch {
            throw .workspace("the storage key '\(path)' is not a 32-byte file of uid \(geteuid()) with mode 0600 (\(error)); remove the storage's workspaces and the key to start afresh")
        }
    }

    /// HMAC-SHA256 (RFC 2104) of `text` for `purpose` (`workspace`, `journal`) of workspace `id`
    /// over `workdir`, lower-case hex.
    func tag(_ purpose: String, id: String, workdir: String, _ text: String) -> String {
        let message = Array("\(purpose)\0\(id)\0\(workdir)\0".utf8) + Array(text.utf8)
        return SHA256.hex(Self.hmac(key: bytes, message))
    }

    static func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var block = key.count > 64 ? { var h = SHA256(); h.update(key); return h.finalize() }() : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        var inner = SHA256(), outer = SHA256()
        inner.update(block.map { $0 ^ 0x36 })
        inner.update(message)
        outer.update(block.map { $0 ^ 0x5c })
        outer.update(inner.finalize())
        return outer.finalize()
    }

    /// Compares two tags in time independent of where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}
