#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// The few file operations workspaces need, on paths, with errno errors.
enum FileSystem {
    static func status(_ path: String) -> stat? {
        var info = stat()
        return lstat(path, &info) == 0 ? info : nil
    }

    static func kind(_ info: stat) -> mode_t { info.st_mode & S_IFMT }

    /// Names in a directory, without "." and "..", sorted. Names that are not UTF-8 are an
    /// error: a change set could not name them faithfully.
    static func entries(of directory: String) throws(Errno) -> [String] {
        guard let stream = opendir(directory) else { throw Errno.current }
        return try entries(stream)
    }

    /// The same for an open directory descriptor, which it takes over (fdopendir).
    static func entries(ofDescriptor fd: Int32) throws(Errno) -> [String] {
        guard let stream = fdopendir(fd) else {
            let error = Errno.current
            close(fd)
            throw error
        }
        return try entries(stream)
    }

    private static func entries(_ stream: OpaquePointer) throws(Errno) -> [String] {
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = try withUnsafeBytes(of: entry.pointee.d_name) { (raw) throws(Errno) -> String in
                let bytes = raw.prefix { $0 != 0 }
                guard let name = String(validating: bytes, as: UTF8.self) else { throw Errno(rawValue: EILSEQ) }
                return name
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A whiteout: the 0:0 character device overlayfs leaves for a deleted name.
    static func isWhiteout(_ info: stat) -> Bool {
        kind(info) == S_IFCHR && info.st_rdev == 0
    }

    /// An opaque directory hides the lower layers' contents (`trusted.overlay.opaque`, or
    /// `user.overlay.opaque` for overlays mounted with `userxattr`, set to "y").
    static func isOpaque(_ path: String) -> Bool {
        for name in ["trusted.overlay.opaque", "user.overlay.opaque"] {
            var value: UInt8 = 0
            if csl_lgetxattr(path, name, &value, 1) == 1 && value == UInt8(ascii: "y") { return true }
        }
        return false
    }

    static func readFile(_ path: String, limit: Int = Int.max) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while bytes.count < limit {
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if got == 0 { break }
            bytes += chunk[0..<got]
        }
        return bytes
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync,
    /// rename, fsync of the directory. Not `durable`: no fsyncs (readers see the old or the
    /// new contents, but a power loss may leave neither).
    static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600, durable: Bool = true) throws(Errno) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Errno.current }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                let error = Errno.current
                close(fd)
                throw error
            }
            offset += written
        }
        if durable && fsync(fd) != 0 {
            let error = Errno.current
            close(fd)
            throw error
        }
        close(fd)
        if rename(temporary, path) != 0 { throw Errno.current }
        if durable { syncDirectory(of: path) }
    }

    /// syncfs(2) of the filesystem holding `path`.
    static func syncFilesystem(of path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = csl_syncfs(fd)
            close(fd)
        }
    }

    static func syncDirectory(of path: String) {
        let fd = open(parent(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            close(fd)
        }
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Removes a file or a whole tree; a missing path is not an error. Directories the owner
    /// cannot enter (overlayfs leaves `work/work` at mode 0) are opened up first.
    static func removeTree(_ path: String) throws(Errno) {
        guard let info = status(path) else { return }
        if kind(info) == S_IFDIR {
            if info.st_mode & 0o700 != 0o700 { _ = chmod(path, 0o700) }
            for name in try entries(of: path) { try removeTree(path + "/" + name) }
            if rmdir(path) != 0 && errno != ENOENT { throw Errno.current }
        } else if unlink(path) != 0 && errno != ENOENT {
            throw Errno.current
        }
    }

    /// mkdir -p with `mode` for the directories it creates.
    static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws(Errno) {
        if let info = status(path), kind(info) == S_IFDIR { return }
        let up = parent(of: path)
        if up != path && up != "/" && up != "." { try makeDirectories(up, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST { throw Errno.current }
    }

    /// Copies a regular file's contents into a new file `name` of `directory` (created with
    /// `mode`, never through a symlink). No fsync: a commit syncs the filesystem once before it
    /// drops its journal.
    static func copyFile(from source: String, to name: String, in directory: Int32, mode: mode_t) throws(Errno) {
        let input = open(source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { throw Errno.current }
        defer { close(input) }
        let output = openat(directory, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard output >= 0 else { throw Errno.current }
        defer { close(output) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw Errno.current
            }
            if got == 0 { break }
            var offset = 0
            while offset < got {
                let written = chunk.withUnsafeBytes { write(output, $0.baseAddress! + offset, got - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw Errno.current
                }
                offset += written
            }
        }
    }

    /// Removes overlayfs' own extended attributes (`trusted.overlay.*`, `user.overlay.*`)
    /// from a file linked out of an upper directory.
    static func removeOverlayAttributes(_ path: String) {
        var names = [CChar](repeating: 0, count: 4096)
        let length = csl_llistxattr(path, &names, names.count)
        guard length > 0 else { return }
        for name in names[0..<length].split(separator: 0) {
            let text = String(decoding: name.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix("trusted.overlay.") || text.hasPrefix("user.overlay.") { _ = csl_lremovexattr(path, text) }
        }
    }
}
