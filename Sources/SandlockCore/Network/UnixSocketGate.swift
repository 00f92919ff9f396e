#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// Connects and sends that name a unix socket by path, which Landlock up to ABI 8 does not
/// restrict (ABI 9, Linux 7.1, adds LANDLOCK_ACCESS_FS_RESOLVE_UNIX, which would replace this
/// gate; the running kernel's ABI is `Landlock.abi`, 7 here, so the gate stays).
///
/// A path is allowed when the socket it reaches lies inside a tree the policy grants for
/// writing (connecting is a write on the socket: the kernel's own check is MAY_WRITE) and
/// outside every `fs_denied` carve-out, or inside a `unix_connect` entry. The decision is
/// made on the inode, not the name: the path is resolved once, on behalf of the process (its
/// root for an absolute path, its cwd for a relative one, via /proc/<pid>/root|cwd), opened
/// O_PATH following symlinks exactly as connect(2) does (every one, the last included), and
/// the real path of that descriptor is checked; the socket is then connected (or sent to)
/// through `/proc/self/fd/<that descriptor>`, which reaches the same inode whatever the
/// process does to the name meanwhile.
///
/// Abstract names stay Landlock's (its abstract-socket scope); since the supervisor is not in
/// the sandbox's domain, a connect on behalf would bypass that scope, so the gate connects
/// and keeps the connection only when the listener's credentials (SO_PEERCRED) name a
/// process of the sandbox.
struct UnixSocketGate: Sendable {
    /// Canonical trees (or single sockets) where connecting is allowed.
    let trees: [String]
    /// Canonical `fs_denied` carve-outs.
    let denied: [String]
    /// The process keeps its capabilities (a root caller's `keep_capabilities`): the kernel
    /// would not check the socket's mode.
    let privileged: Bool

    init(policy: Policy) {
        trees = (policy.fsWritable + policy.unixConnect).compactMap(Workspace.canonicalPath)
        denied = policy.fsDenied.compactMap(Workspace.canonicalPath)
        privileged = policy.keepCapabilities && geteuid() == 0
    }

    func allows(_ real: String) -> Bool {
        trees.contains { Workspace.isSame(real, orBelow: $0) } && !denied.contains { Workspace.isSame(real, orBelow: $0) }
    }

    /// What a unix sockaddr names.
    enum Target {
        /// Unnamed (just the family), or not AF_UNIX at all: the kernel answers as it would.
        case unnamed
        case abstract
        case path(String)
    }

    static func target(of bytes: [UInt8]) -> Target {
        guard bytes.count > 2, SocketAddress.family(bytes) == AF_UNIX else { return .unnamed }
        let name = bytes[2...]
        if name.first == 0 { return .abstract }
        let path = name.prefix { $0 != 0 }
        return path.isEmpty ? .unnamed : .path(String(decoding: path, as: UTF8.self))
    }

    /// The socket `path` names for process `pid`, pinned: an O_PATH descriptor of the inode
    /// and the sockaddr that reaches it (`/proc/self/fd/N`), or the errno to answer.
    func pin(_ path: String, for pid: pid_t) -> Result<(inode: SharedDescriptor, address: [UInt8]), Errno> {
        let absolute = path.hasPrefix("/")
        let base: FileDescriptor
        do {
            base = try FileDescriptor(opening: "/proc/\(pid)/\(absolute ? "root" : "cwd")", flags: CSL_O_PATH | CSL_O_DIRECTORY)
        } catch {
            return .failure(Errno(rawValue: ESRCH))
        }
        let relative = absolute ? String(path.drop { $0 == "/" }) : path
        let inode: FileDescriptor
        do {
            inode = try FileDescriptor(opening: relative.isEmpty ? "." : relative, in: base, flags: CSL_O_PATH)
        } catch {
            return .failure(error)
        }
        // connect(2) on something that is not a socket: ECONNREFUSED, as the kernel says.
        guard let info = try? inode.status(), info.st_mode & S_IFMT == S_IFSOCK else {
            return .failure(Errno(rawValue: ECONNREFUSED))
        }
        guard let real = Self.realPath(of: inode), allows(real) else { return .failure(Errno(rawValue: EACCES)) }
        // A supervisor that is not root has the process's uid and groups and no capabilities:
        // the kernel's own check at our connect is the process's.
        guard privileged || geteuid() != 0 || Self.mayWrite(info, pid: pid) else { return .failure(Errno(rawValue: EACCES)) }
        var address: [UInt8] = withUnsafeBytes(of: sa_family_t(AF_UNIX)) { Array($0) }
        address += Array("/proc/self/fd/\(inode.rawValue)".utf8) + [0]
        return .success((SharedDescriptor(inode), address))
    }

    /// The path the descriptor was opened by (readlink of its /proc/self/fd entry).
    static func realPath(of descriptor: borrowing FileDescriptor) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/fd/\(descriptor.rawValue)", &buffer, buffer.count - 1)
        guard count > 0, count < buffer.count - 1 else { return nil }
        let text = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // A socket whose name is gone: nothing left to check it by.
        return text.hasPrefix("/") && !text.hasSuffix(" (deleted)") ? text : nil
    }

    /// The kernel's MAY_WRITE check on the socket inode with the process's credentials (the
    /// supervisor may have more: a root caller's sandbox has no capabilities). Mode bits only.
    static func mayWrite(_ info: stat, pid: pid_t) -> Bool {
        guard let status = try? Files.readText("/proc/\(pid)/status") else { return false }
        func ids(_ key: String) -> [UInt32] {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return [] }
            return line.dropFirst(key.count + 1).split(whereSeparator: { $0 == "\t" || $0 == " " }).compactMap { UInt32($0) }
        }
        // Filesystem uid and gid: the fourth of the Uid:/Gid: fields.
        let uids = ids("Uid"), gids = ids("Gid")
        guard uids.count == 4, gids.count == 4 else { return false }
        let mode = info.st_mode
        if uids[3] == info.st_uid { return mode & 0o200 != 0 }
        if gids[3] == info.st_gid || ids("Groups").contains(info.st_gid) { return mode & 0o020 != 0 }
        return mode & 0o002 != 0
    }

    /// Is the listener a process of the sandbox (an abstract connect made on behalf)?
    static func peerIsInside(_ socket: SharedDescriptor, initPID: pid_t) -> Bool {
        // struct ucred {pid, uid, gid} (a _GNU_SOURCE type the Glibc module lacks).
        var credentials: (pid_t, uid_t, gid_t) = (0, 0, 0)
        var length = socklen_t(MemoryLayout<(pid_t, uid_t, gid_t)>.size)
        guard getsockopt(socket.rawValue, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0, credentials.0 > 0 else { return false }
        return credentials.0 == initPID || ProcessTree.liveProcesses(under: initPID).contains(credentials.0)
    }
}
