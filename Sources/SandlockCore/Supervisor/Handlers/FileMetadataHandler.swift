#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// File metadata (chmod, chown, times, extended attributes), which Landlock does not judge:
/// allowed only on files inside a write grant (`fs_writable`, minus `fs_denied`), and made on
/// behalf of the process on the inode that was judged, never continued.
///
/// The target is resolved in the process's own view (its root, its cwd, its descriptors; a
/// copy-on-write workspace's overlay lives in its mount namespace, not ours), opened O_PATH,
/// and its path as the kernel names it is checked against the grants. The change is then
/// made through that descriptor, so a rename or a swapped symlink after the check changes
/// nothing. The supervisor may hold capabilities the sandbox lacks (a root caller's sandbox
/// runs with none): the kernel's unprivileged checks are made here with the process's fsuid
/// and groups, so on behalf never grants more than the process itself could do.
struct FileMetadataHandler: SupervisorHandler {
    /// Every supervised sandbox: without this handler, chmod and friends reach any file the
    /// sandbox can walk to. A sandbox without a supervisor (`no_supervisor`) keeps that gap.
    /// An allowlist (`allow_syscalls`) that lists none of them already denies them all (and
    /// leaves no room for the listener's set-up calls, so it gets no listener for this).
    static func isNeeded(by policy: Policy) -> Bool {
        guard !policy.noSupervisor else { return false }
        guard let allowlist = policy.allowSyscalls else { return true }
        return !Set(allowlist).isDisjoint(with: trappedSyscalls)
    }
    static let policyField: String? = nil
    static let trappedSyscalls = [
        "chmod", "fchmod", "fchmodat", "fchmodat2",
        "chown", "lchown", "fchown", "fchownat",
        "utimensat", "utimes", "futimesat", "utime",
        "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    ]

    private let writable: [String]
    private let denied: [String]

    init(policy: Policy, initPID: pid_t) {
        // A grant that does not resolve here is kept as written: a copy-on-write stage's
        // write directory may exist only in its workspace (the runner creates `out/` there),
        // where the sandbox's view of it has exactly that name.
        writable = policy.fsWritable.map { DeniedPaths.resolved($0) ?? $0 }
        denied = policy.fsDenied.map { DeniedPaths.resolved($0) ?? $0 }
    }

    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        // No write grant: nothing is inside one.
        if writable.isEmpty { return .fail(EPERM) }
        guard let request = MetadataRequest(call) else { return .fail(EFAULT) }
        switch request {
        case .failed(let error): return .fail(error)
        case let .change(target, change):
            guard call.stillPending() else { return .fail(EINTR) }
            // Resolving the target and changing it may wait on the filesystem (NFS, FUSE): on
            // a worker, never on the event thread, which also fires every sandbox's timeout.
            let pid = call.pid
            return .answerOnBehalf { [self] stillPending in perform(change, on: target, pid: pid, stillPending: stillPending) }
        }
    }

    /// The change made on behalf: the call's value and errno.
    private func perform(_ change: MetadataChange, on target: MetadataTarget, pid: pid_t,
                         stillPending: () -> Bool) -> (value: Int64, error: Int32) {
        func fail(_ error: Int32) -> (value: Int64, error: Int32) { (0, error) }
        // One read of /proc/<tid>/status: the thread's credentials and its thread group.
        guard let credentials = Credentials(tid: pid) else { return fail(ESRCH) }
        let file: FileDescriptor
        do { file = try target.open(tid: pid, group: credentials.threadGroup) } catch { return fail(error.rawValue) }
        // The tid's /proc entries were the caller's only if it is still waiting (not reused).
        guard stillPending() else { return fail(EINTR) }
        guard let info = try? file.status(), let path = file.kernelPath() else { return fail(EPERM) }
        let name = Self.pathOfInode(path, links: info.st_nlink)
        // Devices are the host's (a root caller's sandbox owns them all), and /proc and /sys
        // are read-only whatever the grant (a chmod there would open a sysctl to every user).
        guard isWritable(name), !Landlock.isDevice(info),
              !Landlock.readOnlyKernelInterfaces.contains(where: { Self.isSame(name, orBelow: $0) }) else { return fail(EPERM) }
        if let error = credentials.refusal(of: change, on: info) { return fail(error) }
        let viaOpenFile = target.isDescriptor
        do {
            switch change {
            case .mode(let mode):
                if viaOpenFile { try file.changeModeOfOpenFile(mode) } else { try file.changeModeOfInode(mode) }
            case let .owner(user, group):
                if viaOpenFile { try file.changeOwnerOfOpenFile(user: user, group: group) } else { try file.changeOwnerOfInode(user: user, group: group) }
            case .times(let times):
                if viaOpenFile { try file.setTimesOfOpenFile(times) } else { try file.setTimesOfInode(times) }
            case let .setAttribute(name, value, flags):
                try file.setExtendedAttribute(name, to: value, flags: flags, openFile: viaOpenFile)
            case .removeAttribute(let name):
                try file.removeExtendedAttribute(name, openFile: viaOpenFile)
            }
        } catch {
            return fail(error.rawValue)
        }
        return (0, 0)
    }

    /// The kernel's name of an inode: an unlinked file's name ends in " (deleted)", which is
    /// dropped only when the file really has no link left. Names that are no path ("pipe:[…]",
    /// "anon_inode:…") are in no grant.
    static func pathOfInode(_ name: String, links: nlink_t) -> String {
        let suffix = " (deleted)"
        if links == 0, name.hasSuffix(suffix) { return String(name.dropLast(suffix.count)) }
        return name
    }

    /// Inside a write grant and in no denied path.
    func isWritable(_ path: String) -> Bool {
        guard path.hasPrefix("/") else { return false }
        return writable.contains { Self.isSame(path, orBelow: $0) } && !denied.contains { Self.isSame(path, orBelow: $0) }
    }

    static func isSame(_ path: String, orBelow root: String) -> Bool {
        path == root || path.hasPrefix(root == "/" ? "/" : root + "/")
    }
}

/// What a metadata call changes, read once from the process's memory.
enum MetadataChange {
    case mode(mode_t)
    /// `UInt32.max` (-1) leaves an id as it is.
    case owner(uid_t, gid_t)
    /// nil: both now. Each may be UTIME_NOW or UTIME_OMIT.
    case times((timespec, timespec)?)
    case setAttribute(String, [UInt8], flags: Int32)
    case removeAttribute(String)
}

/// Which file a metadata call names, in the process's view.
enum MetadataTarget {
    /// A descriptor of the process (fchmod, fchown, fsetxattr, futimens): the call is made on
    /// our duplicate of it, with the descriptor's own semantics (EBADF for O_PATH, as for the
    /// process).
    case descriptor(Int32)
    /// The inode a descriptor names (fchownat/utimensat with AT_EMPTY_PATH, /proc/self/fd/N).
    case inodeOfDescriptor(Int32)
    /// A path relative to a directory descriptor (AT_FDCWD: the cwd), following a final
    /// symlink or not.
    case path(String, directory: Int32, follow: Bool)

    var isDescriptor: Bool { if case .descriptor = self { true } else { false } }

    /// Opens the target: our duplicate of the process's descriptor, or the path resolved as
    /// the process would, opened O_PATH. An absolute path (a relative one is made absolute by
    /// its directory's name) resolves under the process's root (RESOLVE_IN_ROOT), in its
    /// mount namespace; magic links are refused (RESOLVE_NO_MAGICLINKS), since a
    /// /proc/self seen by us is the supervisor.
    func open(tid: pid_t, group: pid_t) throws(Errno) -> FileDescriptor {
        switch self {
        case .descriptor(let fd), .inodeOfDescriptor(let fd):
            return try Self.duplicate(fd, of: group)
        case let .path(path, directory, follow):
            if let fd = Self.ownDescriptorPath(path, tid: tid, group: group) {
                guard follow else { throw .EPERM }
                return try Self.duplicate(fd, of: group)
            }
            var absolute = path
            if !path.hasPrefix("/") {
                let base = directory == AT_FDCWD ? "/proc/\(tid)/cwd" : "/proc/\(tid)/fd/\(directory)"
                guard let name = Self.readLink(base), name.hasPrefix("/") else {
                    throw directory == AT_FDCWD ? .ENOENT : .EBADF
                }
                absolute = name + "/" + path
            }
            let root = try FileDescriptor(opening: "/proc/\(tid)/root", flags: CSL_O_PATH)
            let flags = CSL_O_PATH | (follow ? 0 : O_NOFOLLOW)
            return try FileDescriptor(opening: absolute, in: root, flags: flags,
                                      resolve: FileDescriptor.resolveInRoot | UInt64(CSL_RESOLVE_NO_MAGICLINKS))
        }
    }

    /// /proc/self/fd/N, /proc/thread-self/fd/N, /dev/fd/N, /proc/<own pid>/fd/N: the
    /// process's own descriptor N (the magic link we may not follow on its behalf).
    static func ownDescriptorPath(_ path: String, tid: pid_t, group: pid_t) -> Int32? {
        guard path.hasPrefix("/proc/") || path.hasPrefix("/dev/fd/") else { return nil }
        let prefixes = ["/proc/self/fd/", "/proc/thread-self/fd/", "/dev/fd/", "/proc/\(tid)/fd/", "/proc/\(group)/fd/"]
        for prefix in prefixes where path.hasPrefix(prefix) {
            let rest = path.dropFirst(prefix.count)
            if !rest.isEmpty, rest.allSatisfy(\.isASCIIDigit), let fd = Int32(rest) { return fd }
        }
        return nil
    }

    private static func duplicate(_ fd: Int32, of group: pid_t) throws(Errno) -> FileDescriptor {
        guard fd >= 0 else { throw .EBADF }
        let process = csl_pidfd_open(group)
        guard process >= 0 else { throw .ESRCH }
        let pidfd = FileDescriptor(adopting: process)
        let duplicate = csl_pidfd_getfd(pidfd.rawValue, fd)
        guard duplicate >= 0 else { throw .EBADF }
        return FileDescriptor(adopting: duplicate)
    }

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let count = readlink(path, &buffer, 4096)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A trapped metadata call decoded: its target and change, every pointer argument read once.
enum MetadataRequest {
    case change(MetadataTarget, MetadataChange)
    case failed(Int32)

    static let symlinkNoFollow: UInt64 = 0x100
    static let emptyPath: UInt64 = 0x1000
    /// XATTR_SIZE_MAX, XATTR_NAME_MAX.
    static let attributeValueLimit: UInt64 = 65536
    static let attributeNameLimit = 255

    /// nil when a pointer argument could not be read (EFAULT).
    init?(_ call: TrappedCall) {
        let (pid, a) = (call.pid, call.args)
        func int(_ value: UInt64) -> Int32 { Int32(truncatingIfNeeded: value) }
        func path(_ address: UInt64) -> String? { ChildMemory.readString(pid, address) }
        /// A path argument at `pathIndex` relative to the directory at `directoryIndex`, with
        /// *at flags (AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH); nil on EFAULT.
        func target(_ directory: Int32, _ address: UInt64, flags: UInt64, followByDefault: Bool = true) -> MetadataTarget?? {
            guard let name = path(address) else { return nil }
            if name.isEmpty {
                guard flags & Self.emptyPath != 0 else { return .some(nil) }
                return directory == AT_FDCWD ? .path(".", directory: AT_FDCWD, follow: true) : .inodeOfDescriptor(directory)
            }
            return .path(name, directory: directory, follow: followByDefault && flags & Self.symlinkNoFollow == 0)
        }
        let nr = call.nr
        let fdcwd = AT_FDCWD
        switch nr {
        case Syscall.chmod, Syscall.fchmodat, Syscall.fchmodat2, Syscall.fchmod:
            let (directory, address, modeArg, flags): (Int32, UInt64?, UInt64, UInt64) = switch nr {
            case Syscall.chmod: (fdcwd, a[0], a[1], 0)
            case Syscall.fchmodat: (int(a[0]), a[1], a[2], 0)
            case Syscall.fchmodat2: (int(a[0]), a[1], a[2], a[3])
            default: (int(a[0]), nil, a[1], 0)
            }
            if flags & ~(Self.symlinkNoFollow | Self.emptyPath) != 0 { self = .failed(EINVAL); return }
            let change = MetadataChange.mode(mode_t(truncatingIfNeeded: modeArg) & 0o7777)
            guard let address else { self = .change(.descriptor(directory), change); return }
            guard let resolved = target(directory, address, flags: flags) else { return nil }
            self = resolved.map { .change($0, change) } ?? .failed(ENOENT)
        case Syscall.chown, Syscall.lchown, Syscall.fchownat, Syscall.fchown:
            let (directory, address, user, group, flags): (Int32, UInt64?, UInt64, UInt64, UInt64) = switch nr {
            case Syscall.chown: (fdcwd, a[0], a[1], a[2], 0)
            case Syscall.lchown: (fdcwd, a[0], a[1], a[2], Self.symlinkNoFollow)
            case Syscall.fchownat: (int(a[0]), a[1], a[2], a[3], a[4])
            default: (int(a[0]), nil, a[1], a[2], 0)
            }
            if flags & ~(Self.symlinkNoFollow | Self.emptyPath) != 0 { self = .failed(EINVAL); return }
            let change = MetadataChange.owner(uid_t(truncatingIfNeeded: user), gid_t(truncatingIfNeeded: group))
            guard let address else { self = .change(.descriptor(directory), change); return }
            guard let resolved = target(directory, address, flags: flags) else { return nil }
            self = resolved.map { .change($0, change) } ?? .failed(ENOENT)
        case Syscall.utimensat, Syscall.utimes, Syscall.futimesat, Syscall.utime:
            let (directory, address, timesAddress, flags): (Int32, UInt64, UInt64, UInt64) = switch nr {
            case Syscall.utimensat: (int(a[0]), a[1], a[2], a[3])
            case Syscall.futimesat: (int(a[0]), a[1], a[2], 0)
            default: (fdcwd, a[0], a[1], 0)
            }
            if flags & ~(Self.symlinkNoFollow | Self.emptyPath) != 0 { self = .failed(EINVAL); return }
            var times: (timespec, timespec)?
            if timesAddress != 0 {
                guard let read = Self.readTimes(pid, timesAddress, nr) else { return nil }
                if let error = Self.invalid(read) { self = .failed(error); return }
                times = read
            }
            let change = MetadataChange.times(times)
            if nr == Syscall.utimensat && address == 0 {
                // futimens(fd, times): utimensat(fd, NULL, times, 0).
                self = flags != 0 ? .failed(EINVAL) : directory == fdcwd ? .failed(EFAULT) : .change(.descriptor(directory), change)
                return
            }
            guard let resolved = target(directory, address, flags: flags) else { return nil }
            self = resolved.map { .change($0, change) } ?? .failed(ENOENT)
        case Syscall.setxattr, Syscall.lsetxattr, Syscall.fsetxattr:
            guard let name = ChildMemory.readString(pid, a[1], limit: Self.attributeNameLimit + 1) else { return nil }
            if name.isEmpty || name.utf8.count > Self.attributeNameLimit { self = .failed(name.isEmpty ? EINVAL : ERANGE); return }
            if a[3] > Self.attributeValueLimit { self = .failed(E2BIG); return }
            let flags = int(a[4])
            if flags & ~3 != 0 { self = .failed(EINVAL); return }
            var value: [UInt8] = []
            if a[3] > 0 {
                guard let read = ChildMemory.read(pid, a[2], count: Int(a[3])) else { return nil }
                value = read
            }
            let change = MetadataChange.setAttribute(name, value, flags: flags)
            if nr == Syscall.fsetxattr { self = .change(.descriptor(int(a[0])), change); return }
            guard let resolved = target(fdcwd, a[0], flags: 0, followByDefault: nr == Syscall.setxattr) else { return nil }
            self = resolved.map { .change($0, change) } ?? .failed(ENOENT)
        case Syscall.removexattr, Syscall.lremovexattr, Syscall.fremovexattr:
            guard let name = ChildMemory.readString(pid, a[1], limit: Self.attributeNameLimit + 1) else { return nil }
            if name.isEmpty || name.utf8.count > Self.attributeNameLimit { self = .failed(name.isEmpty ? EINVAL : ERANGE); return }
            let change = MetadataChange.removeAttribute(name)
            if nr == Syscall.fremovexattr { self = .change(.descriptor(int(a[0])), change); return }
            guard let resolved = target(fdcwd, a[0], flags: 0, followByDefault: nr == Syscall.removexattr) else { return nil }
            self = resolved.map { .change($0, change) } ?? .failed(ENOENT)
        default:
            self = .failed(ENOSYS)
        }
    }

    /// utimensat's two timespecs, utimes/futimesat's two timevals, utime's utimbuf, as
    /// timespecs.
    private static func readTimes(_ pid: pid_t, _ address: UInt64, _ nr: Int32) -> (timespec, timespec)? {
        guard let bytes = ChildMemory.read(pid, address, count: nr == Syscall.utime ? 16 : 32) else { return nil }
        let words: [Int64] = stride(from: 0, to: bytes.count, by: 8).map { offset in
            bytes[offset..<offset + 8].reversed().reduce(Int64(0)) { $0 << 8 | Int64($1) }
        }
        switch nr {
        case Syscall.utimensat:
            return (timespec(tv_sec: Int(words[0]), tv_nsec: Int(words[1])), timespec(tv_sec: Int(words[2]), tv_nsec: Int(words[3])))
        case Syscall.utime:
            return (timespec(tv_sec: Int(words[0]), tv_nsec: 0), timespec(tv_sec: Int(words[1]), tv_nsec: 0))
        default: // timevals: microseconds
            guard (0..<1_000_000).contains(words[1]), (0..<1_000_000).contains(words[3]) else {
                return (timespec(tv_sec: 0, tv_nsec: -1), timespec(tv_sec: 0, tv_nsec: -1))
            }
            return (timespec(tv_sec: Int(words[0]), tv_nsec: Int(words[1] * 1000)), timespec(tv_sec: Int(words[2]), tv_nsec: Int(words[3] * 1000)))
        }
    }

    static let utimeNow = (1 << 30) - 1
    static let utimeOmit = (1 << 30) - 2

    private static func invalid(_ times: (timespec, timespec)) -> Int32? {
        for time in [times.0, times.1] where time.tv_nsec != utimeNow && time.tv_nsec != utimeOmit {
            if !(0..<1_000_000_000).contains(time.tv_nsec) { return EINVAL }
        }
        return nil
    }
}

/// The calling thread's filesystem credentials (/proc/<tid>/status), for the kernel's
/// unprivileged checks: a sandbox never holds CAP_FOWNER, CAP_CHOWN, CAP_FSETID or
/// CAP_SYS_ADMIN, whatever the supervisor holds.
struct Credentials {
    let fsuid: uid_t
    let fsgid: gid_t
    let groups: Set<gid_t>
    let threadGroup: pid_t

    init?(tid: pid_t) {
        guard let file = try? FileDescriptor(opening: "/proc/\(tid)/status", flags: O_RDONLY) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 2048)
        guard let count = buffer.withUnsafeMutableBytes({ try? file.read(into: $0) }), count > 0 else { return nil }
        // Tgid, Uid, Gid and Groups are among the first lines: one pass, stopping at Groups.
        var fields: [String: [UInt32]] = [:]
        for line in buffer[0..<count].split(separator: UInt8(ascii: "\n")) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
            guard name == "Tgid" || name == "Uid" || name == "Gid" || name == "Groups" else { continue }
            var numbers: [UInt32] = []
            var current: UInt32?
            for byte in line[(colon + 1)...] {
                if byte >= 48 && byte <= 57 {
                    current = (current ?? 0) &* 10 &+ UInt32(byte - 48)
                } else if let value = current {
                    numbers.append(value)
                    current = nil
                }
            }
            if let value = current { numbers.append(value) }
            fields[name] = numbers
            if name == "Groups" { break }
        }
        guard let uids = fields["Uid"], uids.count == 4, let gids = fields["Gid"], gids.count == 4,
              let group = fields["Tgid"]?.first else { return nil }
        threadGroup = pid_t(group)
        fsuid = uids[3]
        fsgid = gids[3]
        groups = Set(fields["Groups"] ?? []).union([gids[3]])
    }

    /// The errno the kernel would answer this process for `change` on a file with `info`,
    /// without capabilities; nil when it may. (A symlink here is one the call did not follow.)
    func refusal(of change: MetadataChange, on info: stat) -> Int32? {
        let owner = info.st_uid == fsuid
        let type = info.st_mode & S_IFMT
        switch change {
        case .mode(let mode):
            if type == S_IFLNK { return EOPNOTSUPP }
            // Set-id bits are refused outright (a BPF rule refuses them too).
            if mode & (S_ISUID | S_ISGID) != 0 { return EPERM }
            return owner ? nil : EPERM
        case let .owner(user, group):
            let unchanged = UInt32.max
            if user == unchanged && group == unchanged { return nil }
            guard owner else { return EPERM }
            if user != unchanged && user != info.st_uid { return EPERM }
            if group != unchanged && group != info.st_gid && !groups.contains(group) { return EPERM }
            return nil
        case .times(let times):
            let explicit = times.map { [$0.0, $0.1].contains { $0.tv_nsec != MetadataRequest.utimeNow && $0.tv_nsec != MetadataRequest.utimeOmit } } ?? false
            let omitted = times.map { $0.0.tv_nsec == MetadataRequest.utimeOmit && $0.1.tv_nsec == MetadataRequest.utimeOmit } ?? false
            if omitted { return nil }
            if owner { return nil }
            if explicit { return EPERM }
            return mayWrite(info) ? nil : EACCES
        case .setAttribute(let name, _, _), .removeAttribute(let name):
            if name.hasPrefix("user.") {
                // The kernel's xattr_permission: user.* only on regular files and
                // directories, a sticky directory's only for its owner, and write permission.
                guard type == S_IFREG || type == S_IFDIR else { return EPERM }
                if type == S_IFDIR && info.st_mode & S_ISVTX != 0 && !owner { return EPERM }
                return mayWrite(info) ? nil : EACCES
            }
            if name == "system.posix_acl_access" || name == "system.posix_acl_default" {
                return owner ? nil : EPERM
            }
            // trusted.*, security.* (file capabilities among them) and the rest need
            // capabilities the sandbox does not have.
            return EPERM
        }
    }

    /// Write permission by the mode bits (no CAP_DAC_OVERRIDE; ACLs are not consulted, which
    /// can only refuse more than the kernel).
    private func mayWrite(_ info: stat) -> Bool {
        if info.st_uid == fsuid { return info.st_mode & S_IWUSR != 0 }
        if groups.contains(info.st_gid) { return info.st_mode & S_IWGRP != 0 }
        return info.st_mode & S_IWOTH != 0
    }
}
