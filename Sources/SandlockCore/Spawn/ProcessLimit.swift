#if canImport(Glibc)
import Glibc
#endif
import CSandlock
import Synchronization

/// How `max_processes` is enforced. The kernel counts tasks (threads too) and fails `clone`
/// with EAGAIN itself, so no clone is ever held by the supervisor, where a signal arriving
/// before the supervisor reads the notification ends it with EINTR (dash: "Cannot fork";
/// see docs/security.md, "Processes"). The supervisor's trap is the fallback where the
/// kernel offers neither mechanism.
enum ProcessLimit {
    enum Mechanism: Sendable, Equatable {
        /// A pids cgroup per sandbox (`pids.max`), joined by init before anything else.
        case pidsCgroup(PidsCgroupHierarchy)
        /// A user namespace per sandbox, in which the command's RLIMIT_NPROC counts only the
        /// sandbox's tasks (Linux 5.14+). Not for root: the kernel skips the check for it.
        case userNamespace
        /// The supervisor traps fork, vfork and clone (`ProcessLimitHandler`).
        case supervisor
    }

    /// The kernel's limit for `-P n`: n tasks for the command's tree, plus init's own.
    static func kernelTasks(for maxProcesses: Int) -> Int {
        maxProcesses == .max ? .max : maxProcesses + 1
    }

    /// The mechanism for this policy on this machine. A pids cgroup is only sound while the
    /// sandbox cannot write to the cgroup filesystem: a write grant over it (`-w /sys`) or
    /// into it (`-w /sys/fs/cgroup/pids/sandlock`) would let the sandbox raise its own
    /// `pids.max` or leave the cgroup.
    static func mechanism(for policy: Policy) -> Mechanism {
        if case .success(let hierarchy) = PidsCgroupHierarchy.current,
           !policy.fsWritable.contains(where: { grant in hierarchy.mountPoints.contains { overlaps(grant, $0) } }) {
            return .pidsCgroup(hierarchy)
        }
        return userNamespaceProblem == nil ? .userNamespace : .supervisor
    }

    /// What `sandlock check` says about `-P` on this machine (for a policy without a write
    /// grant on the cgroup filesystem).
    static var machineDescription: (kernel: Bool, detail: String) {
        switch PidsCgroupHierarchy.current {
        case .success(let hierarchy):
            return (true, "pids cgroup \(hierarchy.version == .v1 ? "v1" : "v2") under \(hierarchy.base)")
        case .failure(let cgroupProblem):
            if let problem = userNamespaceProblem {
                return (false, "supervisor trap (a signal can interrupt a held fork): \(cgroupProblem.reason); \(problem)")
            }
            return (true, "RLIMIT_NPROC in a user namespace; no pids cgroup: \(cgroupProblem.reason)")
        }
    }

    /// Why a user namespace with RLIMIT_NPROC cannot bound this caller's sandboxes, or nil.
    static let userNamespaceProblem: String? = {
        // copy_process skips the RLIMIT_NPROC check for a real uid of 0 (INIT_USER).
        if getuid() == 0 { return "RLIMIT_NPROC does not bind root (real uid 0)" }
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let version = release.split(separator: ".").prefix(2).compactMap { Int($0.prefix { $0.isNumber }) }
        if version.count == 2, (version[0], version[1]) < (5, 14) {
            return "RLIMIT_NPROC is counted per user namespace since Linux 5.14 (this is \(release))"
        }
        return Workspace.userNamespaceProblem()
    }()

    /// Whether a Landlock grant on `grant` reaches into the tree at `path`: the same path, an
    /// ancestor, or a path inside it.
    private static func overlaps(_ grant: String, _ path: String) -> Bool {
        func isWithin(_ inner: String, _ outer: String) -> Bool {
            inner == outer || outer == "/" || inner.hasPrefix(outer.hasSuffix("/") ? outer : outer + "/")
        }
        let grant = Workspace.canonicalPath(grant) ?? grant
        return isWithin(path, grant) || isWithin(grant, path)
    }
}

/// Identity maps of the caller's uid and gid for a sandbox's user namespace (workspaces,
/// RLIMIT_NPROC): files it writes belong to the caller, as the caller's own writes would.
enum UserNamespaceMaps {
    static var uid: String { "\(geteuid()) \(geteuid()) 1\n" }
    static var gid: String { "\(getegid()) \(getegid()) 1\n" }
}

/// The pids cgroup hierarchy this process can create sandbox cgroups in: v1 (a `pids`
/// hierarchy of its own) or v2 (the unified hierarchy, where the caller's cgroup has `pids`
/// delegated). Sandbox cgroups live in a `sandlock` directory below the caller's own cgroup,
/// so every limit above the caller still applies, each named `<pid>-<n>` after the process
/// that made it: a process that died without removing its cgroups (SIGKILL) leaves empty
/// ones, which the next process to probe the hierarchy removes.
struct PidsCgroupHierarchy: Sendable, Equatable {
    enum Version: Sendable { case v1, v2 }
    struct Unavailable: Error { var reason: String }

    let version: Version
    /// Everywhere the hierarchy is mounted, the first one used (the sandbox must have no
    /// write grant over or into any of them).
    let mountPoints: [String]
    var mountPoint: String { mountPoints[0] }
    /// The `sandlock` directory holding the sandbox cgroups.
    let base: String

    /// Probed once per process, pruning the leftovers of dead processes.
    static let current: Result<PidsCgroupHierarchy, Unavailable> = {
        do throws(Unavailable) {
            let hierarchy = try locate()
            try hierarchy.prepare()
            hierarchy.pruneLeftovers()
            return .success(hierarchy)
        } catch {
            return .failure(error)
        }
    }()

    /// The caller's own pids cgroup directory, from /proc/self/cgroup and mountinfo.
    private static func locate() throws(Unavailable) -> PidsCgroupHierarchy {
        let memberships = ((try? Files.readText("/proc/self/cgroup")) ?? "").split(separator: "\n").map {
            $0.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        }.filter { $0.count == 3 }
        // mountinfo: id parent major:minor root mount-point options … - fstype source super-options
        let mounts = ((try? Files.readText("/proc/self/mountinfo")) ?? "").split(separator: "\n").compactMap { line -> (root: String, point: String, type: String, options: [Substring])? in
            let fields = line.split(separator: " ")
            guard let separator = fields.firstIndex(of: "-"), separator >= 5, fields.count >= separator + 4 else { return nil }
            return (String(fields[3]), String(fields[4]), String(fields[separator + 1]), fields[separator + 3].split(separator: ","))
        }
        func directory(_ path: String, in mount: (root: String, point: String, type: String, options: [Substring])) -> String? {
            let relative = mount.root == "/" ? path : path.hasPrefix(mount.root) ? String(path.dropFirst(mount.root.count)) : nil
            return relative.map { mount.point + ($0 == "/" ? "" : $0) }
        }
        if let v1 = memberships.first(where: { $0[1].split(separator: ",").contains("pids") }) {
            let pidsMounts = mounts.filter { $0.type == "cgroup" && $0.options.contains("pids") }
            guard let mount = pidsMounts.first, let own = directory(v1[2], in: mount) else {
                throw Unavailable(reason: "the pids cgroup v1 hierarchy is not mounted here")
            }
            return PidsCgroupHierarchy(version: .v1, mountPoints: pidsMounts.map(\.point), base: own + "/sandlock")
        }
        let unifiedMounts = mounts.filter { $0.type == "cgroup2" }
        guard let v2 = memberships.first(where: { $0[0] == "0" && $0[1].isEmpty }),
              let mount = unifiedMounts.first, let own = directory(v2[2], in: mount) else {
            throw Unavailable(reason: "no pids cgroup: neither a v1 pids hierarchy nor cgroup v2 is mounted")
        }
        let controllers = (try? Files.readText(own + "/cgroup.controllers")) ?? ""
        guard controllers.split(whereSeparator: \.isWhitespace).contains("pids") else {
            throw Unavailable(reason: "cgroup v2: the pids controller is not available in \(own) (enable it in the parent's cgroup.subtree_control, or run under systemd with Delegate=pids)")
        }
        return PidsCgroupHierarchy(version: .v2, mountPoints: unifiedMounts.map(\.point), base: own + "/sandlock")
    }

    /// Makes `base` (v2: with `pids` enabled for it and its children).
    private func prepare() throws(Unavailable) {
        let parent = Files.parent(of: base)
        if version == .v2 {
            // Fails with EBUSY while the caller's cgroup holds processes (the no-internal-
            // processes rule; the root cgroup is exempt): a delegated cgroup must hand us a
            // leaf to live in first.
            try enablePids(in: parent)
        }
        if mkdir(base, 0o755) != 0 && errno != EEXIST {
            throw Unavailable(reason: "cannot create \(base): \(Errno.current) (pids cgroup \(version == .v1 ? "v1 needs root or a writable hierarchy" : "v2 needs a delegated cgroup"))")
        }
        guard access(base, W_OK) == 0 else { throw Unavailable(reason: "\(base) is not writable: \(Errno.current)") }
        if version == .v2 { try enablePids(in: base) }
    }

    private func enablePids(in directory: String) throws(Unavailable) {
        let control = directory + "/cgroup.subtree_control"
        if ((try? Files.readText(control)) ?? "").split(whereSeparator: \.isWhitespace).contains("pids") { return }
        do {
            try FileDescriptor(opening: control, flags: O_WRONLY | O_CLOEXEC).writeAll("+pids")
        } catch {
            throw Unavailable(reason: "cgroup v2: cannot enable pids in \(control): \(error) (a cgroup holding processes cannot delegate controllers; start sandlock in a delegated cgroup of its own, e.g. systemd-run --user --scope -p Delegate=pids)")
        }
    }

    /// Removes empty sandbox cgroups whose process is gone (a populated one is refused with
    /// EBUSY and stays).
    func pruneLeftovers() {
        for name in (try? Directory.entries(atPath: base)) ?? [] {
            guard let owner = name.split(separator: "-").first.flatMap({ pid_t($0) }), owner > 0,
                  kill(owner, 0) != 0, errno == ESRCH else { continue }
            rmdir(base + "/" + name)
        }
    }
}

/// One sandbox's pids cgroup: made before the spawn with its `pids.max`, joined by init
/// through `procs`, removed once init has been reaped (every task of the tree is gone by
/// then) or, should the spawn fail, when it is released.
final class PidsCgroup: Sendable {
    let path: String
    /// `cgroup.procs`, opened here: the kernel checks the opener's credentials.
    let procs: SharedDescriptor
    private static let counter = Atomic<UInt64>(0)

    init(in hierarchy: PidsCgroupHierarchy, tasks: Int) throws(SandboxError) {
        let path = hierarchy.base + "/\(getpid())-\(Self.counter.add(1, ordering: .relaxed).newValue)"
        guard mkdir(path, 0o755) == 0 else {
            throw .kernelFeatureMissing(feature: "pids cgroup", detail: "cannot create \(path): \(Errno.current)", field: "max_processes")
        }
        self.path = path
        do throws(Errno) {
            try FileDescriptor(opening: path + "/pids.max", flags: O_WRONLY | O_CLOEXEC).writeAll(tasks == .max ? "max" : String(tasks))
            procs = SharedDescriptor(try FileDescriptor(opening: path + "/cgroup.procs", flags: O_WRONLY | O_CLOEXEC))
        } catch {
            rmdir(path)
            throw .kernelFeatureMissing(feature: "pids cgroup", detail: "cannot set up \(path): \(error)", field: "max_processes")
        }
    }

    /// The most tasks the cgroup held at once (`pids.peak`, Linux 6.1+; v1 too), or nil.
    var peakTasks: Int? {
        (try? Files.readText(path + "/pids.peak")).flatMap { $0.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } }
    }

    /// rmdir: the cgroup is empty once init is reaped. Idempotent (the name is never reused).
    func remove() { rmdir(path) }

    deinit { remove() }
}
