#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// File metadata changes on a descriptor that names an inode (an O_PATH descriptor or any
/// open file), for the supervisor's calls on behalf: the inode is pinned, so the change
/// reaches exactly the file that was judged, whatever happens to its name meanwhile.
extension FileDescriptor {
    /// AT_EMPTY_PATH, RESOLVE_IN_ROOT: the Glibc module lacks them (no _GNU_SOURCE).
    public static let atEmptyPath: Int32 = 0x1000
    public static let resolveInRoot: UInt64 = 0x10

    /// openat2(2) relative to `directory` with RESOLVE_* flags, O_CLOEXEC added.
    public init(opening path: String, in directory: borrowing FileDescriptor, flags: Int32, resolve: UInt64) throws(Errno) {
        let directoryFD = directory.rawValue
        rawValue = try retryingInterrupts {
            csl_openat2_resolve(directoryFD, path, UInt64(UInt32(bitPattern: flags)), resolve)
        }
    }

    /// /proc/self/fd/N: the magic link that follows to this descriptor's inode (also for
    /// O_PATH descriptors, on which fchmod and fsetxattr answer EBADF).
    public var magicLink: String { "/proc/self/fd/\(rawValue)" }

    /// readlink of the magic link: the inode's path as the kernel names it (" (deleted)"
    /// appended once it is unlinked; "pipe:[…]" and the like for objects without a path).
    public func kernelPath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let count = readlink(magicLink, &buffer, 4096)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// chmod of the inode through the magic link (works for O_PATH descriptors).
    public func changeModeOfInode(_ mode: mode_t) throws(Errno) {
        let link = magicLink
        _ = try retryingInterrupts { fchmodat(AT_FDCWD, link, mode, 0) }
    }

    /// fchmod(2) of the open file (EBADF for an O_PATH descriptor, as for the caller's).
    public func changeModeOfOpenFile(_ mode: mode_t) throws(Errno) {
        let fd = rawValue
        _ = try retryingInterrupts { fchmod(fd, mode) }
    }

    /// fchownat(fd, "", AT_EMPTY_PATH): the inode itself (a symlink's own owner for a
    /// symlink opened O_PATH|O_NOFOLLOW). `UInt32.max` leaves an id unchanged.
    public func changeOwnerOfInode(user: uid_t, group: gid_t) throws(Errno) {
        let fd = rawValue
        _ = try retryingInterrupts { fchownat(fd, "", user, group, Self.atEmptyPath) }
    }

    /// fchown(2) of the open file (EBADF for an O_PATH descriptor).
    public func changeOwnerOfOpenFile(user: uid_t, group: gid_t) throws(Errno) {
        let fd = rawValue
        _ = try retryingInterrupts { fchown(fd, user, group) }
    }

    /// utimensat(fd, "", times, AT_EMPTY_PATH): the inode's access and modification times
    /// (nil: now).
    public func setTimesOfInode(_ times: (timespec, timespec)?) throws(Errno) {
        let fd = rawValue
        _ = try retryingInterrupts { Self.withTimes(times) { utimensat(fd, "", $0, Self.atEmptyPath) } }
    }

    /// futimens(2) of the open file (EBADF for an O_PATH descriptor).
    public func setTimesOfOpenFile(_ times: (timespec, timespec)?) throws(Errno) {
        let fd = rawValue
        _ = try retryingInterrupts { Self.withTimes(times) { futimens(fd, $0) } }
    }

    private static func withTimes(_ times: (timespec, timespec)?, _ body: (UnsafePointer<timespec>?) -> Int32) -> Int32 {
        guard let times else { return body(nil) }
        var pair = [times.0, times.1]
        return pair.withUnsafeMutableBufferPointer { body(UnsafePointer($0.baseAddress)) }
    }

    /// setxattr(2) through the magic link (the inode, not the link), or fsetxattr(2) of the
    /// open file with `openFile`.
    public func setExtendedAttribute(_ name: String, to value: [UInt8], flags: Int32, openFile: Bool) throws(Errno) {
        let (fd, link) = (rawValue, magicLink)
        _ = try retryingInterrupts {
            value.withUnsafeBytes { raw in
                openFile ? csl_fsetxattr(fd, name, raw.baseAddress, raw.count, flags) : csl_setxattr(link, name, raw.baseAddress, raw.count, flags)
            }
        }
    }

    /// removexattr(2) through the magic link, or fremovexattr(2) of the open file.
    public func removeExtendedAttribute(_ name: String, openFile: Bool) throws(Errno) {
        let (fd, link) = (rawValue, magicLink)
        _ = try retryingInterrupts { openFile ? csl_fremovexattr(fd, name) : csl_removexattr(link, name) }
    }
}
