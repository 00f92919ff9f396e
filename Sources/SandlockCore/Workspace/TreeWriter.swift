#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// Writes beneath a directory without following symlinks: each parent directory is opened with
/// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) from the root's descriptor and the last
/// component is handled with *at() calls, so a directory of the real tree swapped for a symlink
/// while a commit runs fails the operation (ELOOP) instead of redirecting it elsewhere.
struct TreeWriter: ~Copyable {
    private let root: Int32

    init(_ directory: String) throws(Errno) {
        root = try retryingInterrupts { csl_open(directory, CSL_O_PATH | O_DIRECTORY, 0) }
    }

    deinit { close(root) }

    /// Runs `body` with the directory holding `relative` and its last component.
    func withParent<T>(of relative: String, _ body: (Int32, String) throws(Errno) -> T) throws(Errno) -> T {
        let parent = FileSystem.parent(of: relative), name = FileSystem.baseName(of: relative)
        let fd = try retryingInterrupts { csl_openat2_beneath(root, parent == "." ? "." : parent, O_RDONLY | O_DIRECTORY) }
        defer { close(fd) }
        return try body(fd, name)
    }

    /// chmod of `relative` itself, reached without following any symlink.
    func changeMode(_ relative: String, _ mode: UInt32) throws(Errno) {
        let fd = try retryingInterrupts { csl_openat2_beneath(root, relative, CSL_O_PATH) }
        defer { close(fd) }
        if chmod("/proc/self/fd/\(fd)", mode_t(mode)) != 0 { throw Errno.current }
    }

    /// Removes `name` in `directory`, a whole tree if it is one; a missing name is fine.
    func remove(_ name: String, in directory: Int32) throws(Errno) {
        var info = stat()
        if fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) != 0 {
            if errno == ENOENT { return }
            throw Errno.current
        }
        if info.st_mode.isDirectory {
            // overlayfs leaves directories at mode 0 (work/work); open them up first.
            if info.st_mode & 0o700 != 0o700 { try changeMode(at: directory, name, 0o700) }
            let child = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else { throw Errno.current }
            defer { close(child) }
            for entry in try entries(of: child) { try remove(entry, in: child) }
            if unlinkat(directory, name, AT_REMOVEDIR) != 0 && errno != ENOENT { throw Errno.current }
        } else if unlinkat(directory, name, 0) != 0 && errno != ENOENT {
            throw Errno.current
        }
    }

    /// rename(2) of `scratch` over `name`; a directory in the way (an older replay) goes first.
    func replace(_ name: String, with scratch: String, in directory: Int32) throws(Errno) {
        if renameat(directory, scratch, directory, name) == 0 { return }
        guard errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST else { throw Errno.current }
        try remove(name, in: directory)
        if renameat(directory, scratch, directory, name) != 0 { throw Errno.current }
    }

    private func changeMode(at directory: Int32, _ name: String, _ mode: UInt32) throws(Errno) {
        let fd = openat(directory, name, CSL_O_PATH | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw Errno.current }
        defer { close(fd) }
        if chmod("/proc/self/fd/\(fd)", mode_t(mode)) != 0 { throw Errno.current }
    }

    private func entries(of directory: Int32) throws(Errno) -> [String] {
        let copy = fcntl(directory, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw Errno.current }
        return try FileSystem.entries(ofDescriptor: copy)
    }
}
