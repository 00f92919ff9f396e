#if canImport(Glibc)
import Glibc
#endif

/// libc file operations of the run directory: atomic writes, directories, symlinks.
enum RunFiles {
    /// Writes `bytes` to `path.tmp-<pid>`, optionally fsyncs it, and renames it over `path`
    /// (rename(2) is atomic: readers see the old record or the new one, never a part).
    static func writeAtomically(_ bytes: [UInt8], to path: String, sync: Bool) throws(RunFileError) {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunFileError(path: temporary, operation: "create", errno: errno) }
        do throws(RunFileError) {
            try writeAll(fd, bytes, path: temporary)
            if sync, fsync(fd) != 0 { throw RunFileError(path: temporary, operation: "fsync", errno: errno) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let e = errno
            unlink(temporary)
            throw RunFileError(path: path, operation: "rename", errno: e)
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(RunFileError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw RunFileError(path: path, operation: "write", errno: errno)
            }
            offset += n
        }
    }

    /// `mkdir -p`.
    static func makeDirectories(_ path: String) throws(RunFileError) {
        if mkdir(path, 0o755) == 0 || errno == EEXIST { return }
        guard errno == ENOENT else { throw RunFileError(path: path, operation: "mkdir", errno: errno) }
        let parent = FileSystem.directory(of: path)
        guard parent != path, parent != "/" else { throw RunFileError(path: path, operation: "mkdir", errno: ENOENT) }
        try makeDirectories(parent)
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw RunFileError(path: path, operation: "mkdir", errno: errno) }
    }

    /// Replaces the symlink at `link` atomically (symlink to a temp name, then rename).
    static func pointSymlink(_ link: String, to target: String) throws(RunFileError) {
        let temporary = link + ".tmp-\(getpid())"
        unlink(temporary)
        guard symlink(target, temporary) == 0 else { throw RunFileError(path: temporary, operation: "symlink", errno: errno) }
        guard rename(temporary, link) == 0 else {
            let e = errno
            unlink(temporary)
            throw RunFileError(path: link, operation: "rename", errno: e)
        }
    }

    static func readSymlink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Names in a directory (not `.` and `..`); empty when it cannot be read.
    static func entries(of path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// The last `lines` lines of a file, reading at most its last 64 KiB.
    static func tail(_ path: String, lines: Int) -> [String] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        let start = max(0, size - 65536)
        var buffer = [UInt8](repeating: 0, count: Int(size - start))
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
        guard n > 0 else { return [] }
        var text = String(decoding: buffer[0..<n], as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        var all = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if start > 0, !all.isEmpty { all.removeFirst() }  // probably a partial line
        return Array(all.suffix(lines))
    }

    /// Copies a file to a descriptor in 64 KiB chunks; false when writing failed (EPIPE).
    static func copy(_ path: String, to out: Int32, buffer: inout [UInt8]) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return true }  // no output
        defer { close(fd) }
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return true }
            var offset = 0
            while offset < n {
                let w = buffer.withUnsafeBytes { write(out, $0.baseAddress! + offset, n - offset) }
                if w < 0 && errno == EINTR { continue }
                if w <= 0 { return false }
                offset += w
            }
        }
    }
}
