#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// Device and inode: what a Landlock rule is attached to.
struct FileIdentity: Hashable, Sendable {
    let device: UInt64
    let inode: UInt64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.init(info)
    }
}

/// How the supervisor judges an open it makes on the sandbox's behalf (a reopen of
/// /proc/<pid>/fd/N): as if the sandbox opened the file itself with the mode it asks for.
/// The supervisor is not confined, so without this it is a confused deputy: an O_PATH
/// descriptor (which Landlock does not judge) of an ungranted or `fs_denied` file would be
/// read through it.
///
/// - The file's real path is walked from `/` one component at a time (O_PATH|O_NOFOLLOW, so
///   a symlink swapped in by the sandbox ends the walk), and the walk must end at the very
///   inode of the duplicated descriptor. Along that chain, one inode must be granted for the
///   access asked (read: fs_readable or fs_writable; write or O_TRUNC: fs_writable; the
///   default devices when granted) and none may be denied (fs_denied, /sys/firmware).
/// - The reopen never has more access than the original descriptor: a read-only one is not
///   reopened for writing or truncation, a write-only one not for reading. An O_PATH
///   original has no access at all, so it is reopened for reading or writing only when the
///   walk grants it (what the kernel does for a sandbox whose domain grants the path) and
///   never when its file is unreachable from here (deleted, another mount namespace, a
///   pseudo-file) or lives in /proc (whose Landlock grants leave out pid directories and
///   kernel entries). A file the walk cannot reach is reopened only on the strength of the
///   original's own access (pipes, sockets, deleted files: the sandbox holds that access).
/// - A FIFO or character device is opened O_NONBLOCK (cleared on the new descriptor
///   afterwards): a blocking open would wait for a partner the sandbox controls, pinning a
///   thread of ours forever. So a reopen for reading of a writer-less FIFO returns at once,
///   one for writing of a reader-less FIFO fails ENXIO, as for an O_NONBLOCK open.
/// - It runs on a worker, never on the event thread: an open of a file on a FUSE or NFS
///   mount may still wait, and only that worker waits.
struct OnBehalfRules: Sendable {
    let readable: Set<FileIdentity>
    let writable: Set<FileIdentity>
    let denied: Set<FileIdentity>
    /// /proc and /sys: never written, whatever the grant (`Landlock.readOnlyKernelInterfaces`).
    let kernelInterfaces: Set<FileIdentity>
    /// `Landlock.safeDevices`: other device nodes only by a grant naming them.
    let safeDevices: Set<FileIdentity>
    let procDevice: UInt64

    init(policy: Policy, procDevice: UInt64) {
        func identities(_ paths: [String]) -> Set<FileIdentity> { Set(paths.compactMap(FileIdentity.init(path:))) }
        let devices = policy.defaultDevices ? Landlock.defaultDevices : []
        writable = identities(policy.fsWritable + devices)
        readable = identities(policy.fsReadable).union(writable)
        var deniedPaths = policy.fsDenied
        if ProcView.grantsTree("/sys", policy) { deniedPaths.append("/sys/firmware") }
        denied = identities(deniedPaths)
        kernelInterfaces = identities(Landlock.readOnlyKernelInterfaces)
        safeDevices = identities(Landlock.safeDevices)
        self.procDevice = procDevice
    }

    /// Reopens `original` (a duplicate of the process's descriptor) with `flags`, or the
    /// errno to answer.
    func reopen(_ original: SharedDescriptor, flags: Int32) -> Result<SharedDescriptor, Errno> {
        Result { () throws(Errno) in try reopening(original.descriptor, flags: flags) }
    }

    private enum Judgement { case granted, refused, unreachable }

    private func reopening(_ original: borrowing FileDescriptor, flags: Int32) throws(Errno) -> SharedDescriptor {
        let refused = Errno(rawValue: EACCES)
        let originalFlags = try original.statusFlags()
        let info = try original.status()
        let identity = FileIdentity(info)
        let originalIsPath = originalFlags & CSL_O_PATH != 0
        let wantsPath = flags & CSL_O_PATH != 0
        let wanted = flags & O_ACCMODE
        let reads = !wantsPath && wanted != O_WRONLY
        // O_TRUNC truncates even with O_RDONLY.
        let writes = !wantsPath && (wanted != O_RDONLY || flags & O_TRUNC != 0)
        if !originalIsPath {
            let mode = originalFlags & O_ACCMODE
            if reads && mode == O_WRONLY || writes && mode == O_RDONLY { throw refused }
        }
        if reads || writes {
            switch judge(original, identity, device: Landlock.isDevice(info), reads: reads, writes: writes) {
            case .granted: break
            case .refused: throw refused
            case .unreachable: if originalIsPath { throw refused }
            }
            if originalIsPath && identity.device == procDevice { throw refused }
        }
        let type = info.st_mode & S_IFMT
        let addNonblocking = !wantsPath && flags & O_NONBLOCK == 0 && (type == S_IFIFO || type == S_IFCHR)
        let reopened = try FileDescriptor(opening: "/proc/self/fd/\(original.rawValue)",
                                          flags: addNonblocking ? flags | O_NONBLOCK : flags)
        if addNonblocking { try reopened.clearNonblocking() }
        // The file opened is the one judged.
        guard FileIdentity(try reopened.status()) == identity else { throw refused }
        return SharedDescriptor(reopened)
    }

    /// Walks the descriptor's path from `/` and judges it by the grants and denials.
    private func judge(_ original: borrowing FileDescriptor, _ identity: FileIdentity, device: Bool, reads: Bool, writes: Bool) -> Judgement {
        guard let path = Self.readLink("/proc/self/fd/\(original.rawValue)"), path.hasPrefix("/"),
              var current = try? FileDescriptor(opening: "/", flags: CSL_O_PATH | O_DIRECTORY),
              let rootInfo = try? current.status() else { return .unreachable }
        var chain = [FileIdentity(rootInfo)]
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            guard component != "..", component != ".",
                  let next = try? FileDescriptor(opening: String(component), in: current, flags: CSL_O_PATH | O_NOFOLLOW),
                  let nextInfo = try? next.status() else { return .unreachable }
            chain.append(FileIdentity(nextInfo))
            current = next
        }
        guard chain.last == identity else { return .unreachable }
        if chain.contains(where: denied.contains) { return .refused }
        if writes && chain.contains(where: kernelInterfaces.contains) { return .refused }
        // A device outside the safe list (or /dev/pts) is granted only by a rule naming it, as
        // the Landlock split does.
        if device && !safeDevices.contains(identity) && !(chain.dropLast().last.map(safeDevices.contains) ?? false) {
            if reads && !readable.contains(identity) || writes && !writable.contains(identity) { return .refused }
        }
        if reads && !chain.contains(where: readable.contains) { return .refused }
        if writes && !chain.contains(where: writable.contains) { return .refused }
        return .granted
    }

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(path, &buffer, 4095)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
