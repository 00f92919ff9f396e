#if canImport(Glibc)
import Glibc
#endif
import CSandlock
import Synchronization

/// A failed file operation: which one, on which path, and the errno.
public struct FileError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Errno

    public init(_ operation: String, _ path: String, _ errno: Errno) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String { "cannot \(operation) '\(path)': \(errno)" }
}

/// File operations on paths, on libc directly (no Foundation: start-up time counts).
public enum Files {
    /// The whole file (or its first `limit` bytes). `flags` are added to O_RDONLY, e.g.
    /// O_NOFOLLOW.
    public static func read(_ path: String, limit: Int = .max, flags: Int32 = 0) throws(FileError) -> [UInt8] {
        do {
            let file = try FileDescriptor(opening: path, flags: O_RDONLY | flags)
            return try file.readAll(limit: limit)
        } catch {
            throw FileError("read", path, error)
        }
    }

    /// The whole file as text; invalid UTF-8 becomes U+FFFD.
    public static func readText(_ path: String) throws(FileError) -> String {
        String(decoding: try read(path), as: UTF8.self)
    }

    private static let temporaryCounter = Atomic<UInt64>(0)

    /// Replaces `path` atomically: a temporary file beside it (unique per process and call),
    /// then rename(2), so readers see the old contents or the new, never a part. `durable`
    /// adds fsync of the file before the rename and of the directory after it, so the new
    /// contents survive a power loss once this returns.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644, durable: Bool) throws(FileError) {
        let serial = temporaryCounter.wrappingAdd(1, ordering: .relaxed).newValue
        let temporary = "\(path).tmp-\(getpid())-\(serial)"
        do throws(FileError) {
            let file: FileDescriptor
            do { file = try FileDescriptor(opening: temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: mode) } catch {
                throw FileError("create", temporary, error)
            }
            do {
                try file.writeAll(bytes)
                if durable { try file.sync() }
            } catch {
                throw FileError(durable ? "write and sync" : "write", temporary, error)
            }
            guard rename(temporary, path) == 0 else { throw FileError("rename to", path, .current) }
        } catch {
            unlink(temporary)
            throw error
        }
        if durable { syncDirectory(containing: path) }
    }

    /// `mkdir -p`: every missing directory on the way, with `mode`.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(FileError) {
        if mkdir(path, mode) == 0 || errno == EEXIST { return }
        guard errno == ENOENT else { throw FileError("create directory", path, .current) }
        let parent = parent(of: path)
        guard parent != path, parent != "/" else { throw FileError("create directory", path, .ENOENT) }
        try makeDirectories(parent, mode: mode)
        if mkdir(path, mode) != 0 && errno != EEXIST { throw FileError("create directory", path, .current) }
    }

    /// readlink(2); nil when `path` is not a symlink or cannot be read.
    public static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Points the symlink `link` at `target` atomically (a new link, renamed over it).
    public static func replaceSymlink(_ link: String, to target: String) throws(FileError) {
        let serial = temporaryCounter.wrappingAdd(1, ordering: .relaxed).newValue
        let temporary = "\(link).tmp-\(getpid())-\(serial)"
        guard symlink(target, temporary) == 0 else { throw FileError("create symlink", temporary, .current) }
        guard rename(temporary, link) == 0 else {
            let error = Errno.current
            unlink(temporary)
            throw FileError("rename to", link, error)
        }
    }

    /// lstat(2); nil when the path does not exist or cannot be reached.
    public static func status(_ path: String) -> stat? {
        var info = stat()
        return lstat(path, &info) == 0 ? info : nil
    }

    /// stat(2), following symlinks.
    /// Removes a file or a whole tree (never following a symlink); a missing path is not an
    /// error. Directories the owner cannot enter (overlayfs leaves `work/work` at mode 0) are
    /// opened up first.
    public static func removeTree(_ path: String) throws(Errno) {
        guard let info = status(path) else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            if info.st_mode & 0o700 != 0o700 { _ = chmod(path, S_IRWXU) }
            for name in try Directory.entries(atPath: path) { try removeTree(path + "/" + name) }
            if rmdir(path) != 0 && errno != ENOENT { throw Errno.current }
        } else if unlink(path) != 0 && errno != ENOENT {
            throw Errno.current
        }
    }

    public static func statusFollowingLinks(_ path: String) -> stat? {
        var info = stat()
        return stat(path, &info) == 0 ? info : nil
    }

    /// syncfs(2) of the filesystem holding `path`.
    public static func syncFilesystem(of path: String) {
        if let directory = try? FileDescriptor(opening: path, flags: O_RDONLY | O_DIRECTORY) {
            _ = csl_syncfs(directory.rawValue)
        }
    }

    /// fsync(2) of the directory holding `path`: a rename or create in it becomes durable.
    public static func syncDirectory(containing path: String) {
        if let directory = try? FileDescriptor(opening: parent(of: path), flags: O_RDONLY | O_DIRECTORY) {
            try? directory.sync()
        }
    }

    /// The directory part of a path (`/a/b` → `/a`, `b` → `.`).
    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// Directory listings (readdir(3)), without "." and "..".
public enum Directory {
    /// What to do with a name that is not UTF-8.
    public enum Names: Sendable {
        /// Fail with EILSEQ: a change set could not name the entry faithfully.
        case strictUTF8
        /// Replace invalid bytes with U+FFFD (for listings shown to a person).
        case lossy
    }

    /// The entries of `path`, sorted by name.
    public static func entries(atPath path: String, names: Names = .strictUTF8) throws(Errno) -> [String] {
        let stream = try retryingInterrupts { opendir(path) }
        return try entries(stream, names)
    }

    /// The entries of an open directory, which it takes over (fdopendir(3)).
    public static func entries(of directory: consuming FileDescriptor, names: Names = .strictUTF8) throws(Errno) -> [String] {
        let fd = directory.release()
        guard let stream = fdopendir(fd) else {
            let error = Errno.current
            Glibc.close(fd)
            throw error
        }
        return try entries(stream, names)
    }

    private static func entries(_ stream: OpaquePointer, _ names: Names) throws(Errno) -> [String] {
        defer { closedir(stream) }
        var result: [String] = []
        while let entry = readdir(stream) {
            let name = try withUnsafeBytes(of: entry.pointee.d_name) { (raw) throws(Errno) -> String in
                let bytes = raw.prefix { $0 != 0 }
                switch names {
                case .lossy: return String(decoding: bytes, as: UTF8.self)
                case .strictUTF8:
                    guard let name = String(validating: bytes, as: UTF8.self) else { throw Errno.EILSEQ }
                    return name
                }
            }
            if name != "." && name != ".." { result.append(name) }
        }
        return result.sorted()
    }
}
