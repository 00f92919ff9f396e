#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// Operations on the names of an open directory (the *at(2) calls): each acts on `name`
/// in this directory, never following a symlink in its last component unless it says so, so
/// a caller that reached the directory safely (openat2 beneath a root) stays there.
extension FileDescriptor {
    /// openat2(2) of `relative` beneath this directory with RESOLVE_BENEATH |
    /// RESOLVE_NO_SYMLINKS (O_CLOEXEC added): a `..` out of it or a symlink on the way fails
    /// (EXDEV, ELOOP) instead of leading elsewhere. EINTR retried.
    public init(openingBeneath relative: String, in root: borrowing FileDescriptor, flags: Int32) throws(Errno) {
        let rootFD = root.rawValue
        self.init(adopting: try retryingInterrupts { csl_openat2_beneath(rootFD, relative, flags) })
    }

    /// The descriptor's path through /proc/self/fd, for the calls that have no fd form on an
    /// O_PATH descriptor (chmod(2) of one).
    public var procPath: String { "/proc/self/fd/\(rawValue)" }

    /// fstatat(2) of `name` with AT_SYMLINK_NOFOLLOW (a symlink is reported as one).
    public func status(of name: String) throws(Errno) -> stat {
        var info = stat()
        let fd = rawValue
        _ = try retryingInterrupts { fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) }
        return info
    }

    /// unlinkat(2) of `name`; `directory` for an empty directory (AT_REMOVEDIR).
    public func removeEntry(_ name: String, directory: Bool = false) throws(Errno) {
        let fd = rawValue
        _ = try retryingInterrupts { unlinkat(fd, name, directory ? AT_REMOVEDIR : 0) }
    }

    /// renameat(2) of `name` to `newName`, both in this directory.
    public func renameEntry(_ name: String, to newName: String) throws(Errno) {
        let fd = rawValue
        _ = try retryingInterrupts { renameat(fd, name, fd, newName) }
    }

    /// mkdirat(2).
    public func makeDirectory(_ name: String, mode: mode_t) throws(Errno) {
        let fd = rawValue
        _ = try retryingInterrupts { mkdirat(fd, name, mode) }
    }

    /// symlinkat(2): `name` becomes a symlink to `target`.
    public func makeSymlink(_ name: String, to target: String) throws(Errno) {
        let fd = rawValue
        _ = try retryingInterrupts { symlinkat(target, fd, name) }
    }

    /// linkat(2) of the file at `path` (relative to the working directory, not followed) as
    /// `name` in this directory.
    public func makeLink(_ name: String, toFileAt path: String) throws(Errno) {
        let fd = rawValue
        _ = try retryingInterrupts { linkat(AT_FDCWD, path, fd, name, 0) }
    }

    /// linkat(2) of `entry` in the directory `source` (not followed) as `name` in this
    /// directory: neither side's path is resolved from the working directory.
    public func makeLink(_ name: String, toEntry entry: String, in source: borrowing FileDescriptor) throws(Errno) {
        let fd = rawValue, sourceFD = source.rawValue
        _ = try retryingInterrupts { linkat(sourceFD, entry, fd, name, 0) }
    }

    /// fchmodat(2) of `name` (following a symlink: Linux cannot change a symlink's mode).
    public func changeMode(of name: String, to mode: mode_t) throws(Errno) {
        let fd = rawValue
        _ = try retryingInterrupts { fchmodat(fd, name, mode, 0) }
    }

    /// utimensat(2) of `name` with AT_SYMLINK_NOFOLLOW: access and modification times.
    public func setTimes(of name: String, access: timespec, modification: timespec) throws(Errno) {
        var times = [access, modification]
        let fd = rawValue
        _ = try retryingInterrupts { utimensat(fd, name, &times, AT_SYMLINK_NOFOLLOW) }
    }

    /// syncfs(2) of the filesystem holding this descriptor's file.
    public func syncFilesystem() throws(Errno) {
        let fd = rawValue
        _ = try retryingInterrupts { csl_syncfs(fd) }
    }

    /// flock(2) LOCK_EX (or LOCK_SH), waiting for it; released when the descriptor closes.
    public func lock(exclusive: Bool = true) throws(Errno) {
        let fd = rawValue
        _ = try retryingInterrupts { flock(fd, exclusive ? LOCK_EX : LOCK_SH) }
    }

    /// flock(2) without waiting: false when another open file holds a conflicting lock.
    public func tryLock(exclusive: Bool = true) throws(Errno) -> Bool {
        let fd = rawValue
        do {
            _ = try retryingInterrupts { flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) }
            return true
        } catch where error == Errno(rawValue: EWOULDBLOCK) {
            return false
        }
    }
}
