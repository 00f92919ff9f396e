#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// The sandbox's view of /proc, when a policy grants it. Landlock grants /proc entry by entry
/// without any pid directory (present or future), `self`, `thread-self` and the entries below
/// (kernel memory, keys, logs); the supervisor then opens, on the process's behalf, what
/// belongs to the sandbox's own processes and filters /proc listings down to them. A path
/// the supervisor does not serve is judged by Landlock, so racing the path string after our
/// read gains nothing.
struct ProcView {
    /// Entries of /proc never granted.
    static let hiddenEntries: Set<String> = [
        "self", "thread-self", "kcore", "kallsyms", "kmsg", "sysrq-trigger", "kpagecount",
        "kpageflags", "kpagecgroup", "keys", "key-users", "timer_list", "slabinfo",
        "vmallocinfo", "iomem", "ioports", "config.gz",
    ]

    /// Does the policy grant this tree (itself or through `/`)?
    static func grantsTree(_ tree: String, _ policy: Policy) -> Bool {
        grants(tree, among: policy.fsReadable + policy.fsWritable)
    }

    /// Does one of `paths` name `tree` or `/`? Compared by device and inode (one stat per
    /// path, symlinks and `..` included), not by spelling: this runs at every sandbox start.
    static func grants(_ tree: String, among paths: [String]) -> Bool {
        guard let target = identity(tree), let root = identity("/") else { return false }
        return paths.contains { path in identity(path).map { $0 == target || $0 == root } ?? false }
    }

    private static func identity(_ path: String) -> [UInt64]? {
        var info = stat()
        return stat(path, &info) == 0 ? [UInt64(info.st_dev), UInt64(info.st_ino)] : nil
    }

    /// /proc is virtualized when the policy grants it, except in no-supervisor mode (nobody
    /// would serve it; Landlock's ptrace rules still keep other processes' memory, environment
    /// and descriptors out of reach there).
    static func isVirtualized(for policy: Policy) -> Bool { !policy.noSupervisor && grantsTree("/proc", policy) }

    let initPID: pid_t
    let writable: Bool
    let maxMemory: UInt64?
    private let procDevice: UInt64
    /// What the sandbox may open itself: a reopen on its behalf is judged by these.
    let rules: OnBehalfRules

    init(policy: Policy, initPID: pid_t) {
        self.initPID = initPID
        writable = ProcView.grants("/proc", among: policy.fsWritable)
        maxMemory = policy.maxMemory
        var info = stat()
        stat("/proc", &info)
        procDevice = UInt64(info.st_dev)
        rules = OnBehalfRules(policy: policy, procDevice: procDevice)
    }

    /// What to answer an open/openat of `path` (read once) by thread `tid`, or nil to let the
    /// kernel (and Landlock) judge it.
    func open(path: String, directoryFD: Int32, flags: Int32, tid: pid_t, memoryInUse: UInt64,
              ports: PortMap = PortMap()) -> SupervisorState.Verdict? {
        guard let absolute = absolutePath(path, directoryFD: directoryFD, tid: tid) else { return nil }
        let components = absolute.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard components.first == "proc", components.count >= 2 else { return nil }
        let cloexec = flags & O_CLOEXEC != 0
        if components.count == 2, components[1] == "meminfo", let maxMemory {
            return .memoryFile(memoryInfo(limit: maxMemory, used: memoryInUse), cloexec: cloexec)
        }
        let tgid = ProcView.threadGroup(of: tid) ?? tid
        var rest = Array(components.dropFirst(2))
        let target: pid_t
        switch components[1] {
        case "self": target = tgid
        case "net": // /proc/net is a link to self/net
            target = tgid
            rest = ["net"] + rest
        case "thread-self":
            target = tgid
            rest = ["task", String(tid)] + rest
        default:
            guard let pid = pid_t(components[1]) else { return nil }
            target = pid
        }
        // The process is pinned (a pidfd for fd/N, else its /proc directory) before it is
        // checked to be the sandbox's: a pid that exits and is reused by another process in
        // between fails the check (or its entries fail to open), it is never served.
        let descriptorNumber = rest.count == 2 && rest[0] == "fd" ? Int32(rest[1]) : nil
        let pinned: FileDescriptor
        if descriptorNumber != nil {
            let rawPidfd = csl_pidfd_open(target)
            guard rawPidfd >= 0 else { return .fail(ENOENT) }
            pinned = FileDescriptor(adopting: rawPidfd)
        } else {
            guard let directory = try? FileDescriptor(opening: "/proc/\(target)", flags: CSL_O_PATH | O_DIRECTORY) else { return .fail(ENOENT) }
            pinned = directory
        }
        // Only the sandbox's own processes (and their threads) exist in its /proc.
        let owner = ProcView.threadGroup(of: target) ?? target
        guard owner == tgid || ProcessTree.liveProcesses(under: initPID).contains(owner) else { return .fail(ENOENT) }
        if let descriptorNumber {
            return reopenDescriptor(descriptorNumber, pidfd: pinned, flags: flags & ~O_CLOEXEC | O_CLOEXEC, cloexec: cloexec)
        }
        if flags & O_ACCMODE != O_RDONLY && !writable { return .fail(EACCES) }
        if rest.count == 2, rest[0] == "net", ["tcp", "tcp6", "udp", "udp6"].contains(rest[1]) {
            // Through our descriptor of the pinned directory, not the pid's name.
            return socketTable("/proc/self/fd/\(pinned.rawValue)/net/\(rest[1])", ports: ports, cloexec: cloexec)
        }
        return openBeneath(pinned, rest: rest, flags: flags, cloexec: cloexec)
    }

    /// Opens /proc/<pid>/<rest> with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): a
    /// magic link (fd/N, cwd, root, exe) would otherwise lead the unconfined supervisor
    /// anywhere. (A procfs open does not wait for anything, so this one stays on the event
    /// thread.)
    private func openBeneath(_ directory: borrowing FileDescriptor, rest: [String], flags: Int32, cloexec: Bool) -> SupervisorState.Verdict {
        let openFlags = flags & ~O_CLOEXEC | O_CLOEXEC
        let relative = rest.isEmpty ? "." : rest.joined(separator: "/")
        let fd = csl_openat2(directory.rawValue, relative, UInt64(UInt32(bitPattern: openFlags)), 0)
        guard fd >= 0 else { return .fail(errno) }
        return .injectDescriptor(SharedDescriptor(FileDescriptor(adopting: fd)), cloexec: cloexec)
    }

    /// `fd/N` of one of the sandbox's processes: the descriptor is duplicated here
    /// (pidfd_getfd does not block) and reopened on a worker (`OnBehalfRules.reopen`), judged
    /// as if the sandbox opened its file with the mode it asks for.
    private func reopenDescriptor(_ number: Int32, pidfd: borrowing FileDescriptor, flags: Int32, cloexec: Bool) -> SupervisorState.Verdict {
        let rawOriginal = csl_pidfd_getfd(pidfd.rawValue, number)
        guard rawOriginal >= 0 else { return .fail(ENOENT) }
        let original = SharedDescriptor(FileDescriptor(adopting: rawOriginal))
        return .openOnBehalf({ [rules] in rules.reopen(original, flags: flags) }, cloexec: cloexec)
    }

    /// /proc/net/{tcp,udp}[6] as the sandbox sees it: its own sockets only (by inode), with
    /// its virtual ports in place of the real ones.
    private func socketTable(_ path: String, ports: PortMap, cloexec: Bool) -> SupervisorState.Verdict {
        guard let table = try? Files.readText(path) else { return .fail(ENOENT) }
        var inodes: Set<Substring> = []
        for pid in ProcessTree.liveProcesses(under: initPID) {
            for name in (try? Directory.entries(atPath: "/proc/\(pid)/fd", names: .lossy)) ?? [] {
                if let target = ProcView.readLink("/proc/\(pid)/fd/\(name)"), target.hasPrefix("socket:[") {
                    inodes.insert(Substring(target.dropFirst(8).dropLast()))
                }
            }
        }
        var lines = table.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let header = lines.removeFirst()
        let kept = lines.filter { line in
            let fields = line.split(separator: " ")
            return fields.count > 9 && inodes.contains(fields[9])
        }.map { line -> String in
            // local_address is ADDR:PORT in hex; put the virtual port back.
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 1, let colon = fields[1].lastIndex(of: ":"),
                  let real = UInt16(fields[1][fields[1].index(after: colon)...], radix: 16),
                  let virtual = ports.virtual(for: real) else { return line }
            let hex = String(virtual, radix: 16, uppercase: true)
            let replacement = fields[1][...colon] + String(repeating: "0", count: 4 - hex.count) + hex
            // Whitespace is not significant to readers of this table.
            return "  " + ([String(fields[0]), replacement] + fields.dropFirst(2).map(String.init)).joined(separator: " ")
        }
        return .memoryFile(Array(([header] + kept).joined(separator: "\n").utf8 + [10]), cloexec: cloexec)
    }

    /// Is `fd` (a duplicate of the process's descriptor) the /proc directory itself?
    func isProcRoot(_ directory: borrowing FileDescriptor) -> Bool {
        guard let info = try? directory.status() else { return false }
        return UInt64(info.st_dev) == procDevice && info.st_ino == 1
    }

    /// Keeps /proc listing entries that are not pid directories, or are the sandbox's own.
    func listingFilter() -> (String) -> Bool {
        let live = Set(ProcessTree.liveProcesses(under: initPID).map(String.init))
        let denied = ProcView.hiddenEntries.subtracting(["self", "thread-self"])
        return { name in name.allSatisfy(\.isASCIIDigit) ? live.contains(name) : !denied.contains(name) }
    }

    private func absolutePath(_ path: String, directoryFD: Int32, tid: pid_t) -> String? {
        if path.hasPrefix("/") { return path }
        let base = directoryFD == AT_FDCWD ? "/proc/\(tid)/cwd" : "/proc/\(tid)/fd/\(directoryFD)"
        guard let directory = ProcView.readLink(base), directory.hasPrefix("/proc") else { return nil }
        return directory + "/" + path
    }

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(path, &buffer, 4095)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func threadGroup(of tid: pid_t) -> pid_t? {
        guard let status = ProcessTree.readSmallFile("/proc/\(tid)/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Tgid:") }) else { return nil }
        return pid_t(line.dropFirst(5).trimmingSpaces())
    }

    /// /proc/meminfo as the sandbox sees it: its memory limit is the machine's memory.
    private func memoryInfo(limit: UInt64, used: UInt64) -> [UInt8] {
        let real = ProcessTree.readSmallFile("/proc/meminfo") ?? ""
        let free = limit > used ? limit - used : 0
        let replaced: [String: UInt64] = ["MemTotal": limit, "MemFree": free, "MemAvailable": free]
        let lines = real.split(separator: "\n").map { line -> String in
            let key = String(line.prefix { $0 != ":" })
            guard let value = replaced[key] else { return String(line) }
            let number = String(value / 1024)
            return key + ":" + String(repeating: " ", count: max(1, 16 - key.count - number.count)) + number + " kB"
        }
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }

}
