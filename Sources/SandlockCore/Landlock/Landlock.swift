#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// Landlock: the kernel layer for filesystem access, TCP ports and IPC scoping.
public enum Landlock {
    /// The running kernel's Landlock ABI (`landlock_create_ruleset(NULL, 0, VERSION)`),
    /// or 0 when Landlock is missing or disabled. Read once per process.
    public static let abi: Int = {
        let version = csl_landlock_abi_version()
        return version > 0 ? Int(version) : 0
    }()

    /// One protection Landlock provides, with the ABI that introduced it.
    public enum Protection: String, CaseIterable, Sendable, Codable, Hashable {
        case filesystem
        case fsRefer = "fs_refer"
        case fsTruncate = "fs_truncate"
        case netTCP = "net_tcp"
        case fsIoctlDev = "fs_ioctl_dev"
        case abstractUnixSocketScope = "abstract_unix_socket_scope"
        case signalScope = "signal_scope"

        public var minimumABI: Int {
            switch self {
            case .filesystem: 1
            case .fsRefer: 2
            case .fsTruncate: 3
            case .netTCP: 4
            case .fsIoctlDev: 5
            case .abstractUnixSocketScope, .signalScope: 6
            }
        }

        /// What is not confined when the protection is missing.
        public var consequence: String {
            switch self {
            case .filesystem: "no filesystem confinement at all"
            case .fsRefer: "files could be linked or renamed across directories"
            case .fsTruncate: "read-only files could be truncated"
            case .netTCP: "TCP bind and connect would not be restricted"
            case .fsIoctlDev: "ioctl on devices would not be restricted"
            case .abstractUnixSocketScope: "abstract unix sockets outside the sandbox would be reachable"
            case .signalScope: "processes outside the sandbox could be signalled, and background processes could outlive it"
            }
        }
    }

    static let readAccess: UInt64 = UInt64(CSL_LL_FS_EXECUTE | CSL_LL_FS_READ_FILE | CSL_LL_FS_READ_DIR)
    /// The rights that apply to a non-directory; a rule on a file must not carry others.
    static let fileAccess = CSL_LL_FILE_RIGHTS

    /// The rights of ABI 1: EXECUTE … MAKE_SYM, the low 13 bits.
    static let abi1Rights: UInt64 = (UInt64(CSL_LL_FS_MAKE_SYM) << 1) - 1

    /// Every filesystem right the given ABI knows.
    static func filesystemRights(abi: Int) -> UInt64 {
        var rights = abi1Rights
        if abi >= 2 { rights |= UInt64(CSL_LL_FS_REFER) }
        if abi >= 3 { rights |= UInt64(CSL_LL_FS_TRUNCATE) }
        if abi >= 5 { rights |= UInt64(CSL_LL_FS_IOCTL_DEV) }
        return rights
    }

    /// Kernel interfaces no grant makes writable: a write grant that covers them (`-w /proc`,
    /// `-w /sys`, `-w /`) gives read rights there. Most sysctls, sysfs attributes and
    /// /proc/sysrq-trigger check no capability beyond the file mode, so a root caller's
    /// sandbox (uid 0, no capabilities) could otherwise set kernel.core_pattern (code run as
    /// root on the next crash), register a binfmt_misc interpreter, reboot or suspend the host.
    static let readOnlyKernelInterfaces = ["/proc", "/sys"]

    /// Devices every sandbox may read and write unless the policy opts out.
    static let defaultDevices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]

    /// The device tree: a grant covering it (`-w /dev`, `-r /dev`, `-r /`, `-w /`) reaches only
    /// `safeDevices` of its device nodes. Raw devices check nothing beyond the file mode, so a
    /// root caller's sandbox (uid 0, no capabilities) could otherwise read and write the host's
    /// disks (past every grant and `fs_denied`), /dev/kmsg, /dev/port, /dev/input/* (every
    /// keystroke) and /dev/uinput (keystrokes into the host's sessions).
    static let deviceTree = "/dev"
    /// Device nodes (and directories of them) a grant covering `deviceTree` still reaches: the
    /// default devices, the controlling terminal and pseudo-terminals. Directories under
    /// `deviceTree` without a device node (/dev/shm, /dev/mqueue) keep the grant; other device
    /// nodes are reachable only by a grant naming them (`-w /dev/dri/renderD128`).
    static let safeDevices = defaultDevices + ["/dev/tty", "/dev/ptmx", "/dev/pts"]

    /// Is `info` a character or block device?
    static func isDevice(_ info: stat) -> Bool {
        info.st_mode & S_IFMT == S_IFCHR || info.st_mode & S_IFMT == S_IFBLK
    }
}

/// A Landlock ruleset built in the parent, ready for `landlock_restrict_self` in the child.
struct LandlockRuleset: ~Copyable {
    let descriptor: FileDescriptor
    /// Protections the ruleset enforces on this kernel.
    let enforced: [Landlock.Protection]
    /// Protections this kernel lacks, when the policy allowed degraded mode.
    let missing: [Landlock.Protection]
    /// Rules the child adds after mounting a workspace overlay (see `init`).
    let lateRules: [LateRule]

    /// A path rule opened in the child: the canonical path and the rights for its type.
    struct LateRule: Sendable, Hashable {
        var path: String
        var access: UInt64
    }

    /// Builds the ruleset for a policy: every right of the running ABI is handled, so what
    /// is not granted is denied. Paths are opened with O_PATH here, in the parent.
    ///
    /// With `overlayRoots` (copy-on-write workspaces' mount points, canonical), rules for those
    /// directories and paths below any of them are not added here but returned in `lateRules`:
    /// the child adds them after mounting every overlay, since a rule on a covered directory's
    /// inode does not apply to the overlay's own inodes. Rules on their ancestors apply as usual.
    init(policy: Policy, extraReadWrite: [String] = [], handleNetwork: Bool = true,
         abi: Int = Landlock.abi, overlayRoots: [String] = []) throws(SandboxError) {
        let needed = Landlock.Protection.allCases.filter { handleNetwork || $0 != .netTCP }
        let missing = needed.filter { $0.minimumABI > abi }
        if let first = missing.first, !policy.allowDegraded {
            throw SandboxError.kernelFeatureMissing(
                feature: "Landlock \(first.rawValue)",
                detail: "needs Landlock ABI \(first.minimumABI), this kernel has \(abi == 0 ? "no Landlock" : "ABI \(abi)"); without it \(first.consequence)",
                field: "(every sandbox)")
        }
        guard abi >= 1 else {
            throw SandboxError.kernelFeatureMissing(
                feature: "Landlock", detail: "the kernel has no Landlock (needs Linux 5.13+ with lsm=landlock); refusing to run unconfined",
                field: "fs_readable/fs_writable")
        }
        let handledFS = Landlock.filesystemRights(abi: abi)
        // Outbound TCP: Landlock allows the ports of any-address `net_allow` rules; connects
        // to concrete hosts are made on behalf by the supervisor (whose connects Landlock does
        // not judge), so they get no port rule here: a racing connect cannot use one.
        let connectPorts = try NetworkAllowlist.anyAddressPorts(of: policy.netAllow.map(NetworkRule.init(parsing:)))
        let handledConnect = connectPorts == nil ? 0 : UInt64(CSL_LL_NET_CONNECT_TCP)
        let handledNet: UInt64 = handleNetwork && abi >= 4 ? UInt64(CSL_LL_NET_BIND_TCP) | handledConnect : 0
        let scoped: UInt64 = abi >= 6 ? UInt64(CSL_LL_SCOPE_ABSTRACT_UNIX_SOCKET | CSL_LL_SCOPE_SIGNAL) : 0
        let created = csl_landlock_create_ruleset(handledFS, handledNet, scoped, Int32(abi))
        guard created >= 0 else {
            throw SandboxError.systemCall("landlock_create_ruleset", .current)
        }
        let ruleset = FileDescriptor(adopting: created)
        // A virtual /proc: pid directories and sensitive entries are left out here and the
        // supervisor serves the sandbox's own processes (see ProcView).
        let procGranted = ProcView.isVirtualized(for: policy)
        var denied = policy.fsDenied
        if ProcView.grantsTree("/sys", policy) && access("/sys/firmware", F_OK) == 0 { denied.append("/sys/firmware") }
        var procHidden: Set<String>?
        if procGranted {
            procHidden = ProcView.hiddenEntries
            if policy.maxMemory != nil { procHidden!.insert("meminfo") }
        }
        let carveOuts = try DeniedPaths(denied, allowHardLinks: policy.allowDegraded, procHidden: procHidden)
        var late: [LateRule] = []
        let kernelInterfaces = Landlock.readOnlyKernelInterfaces.compactMap(DeniedPaths.resolved)
        func grant(_ path: String, _ access: UInt64, _ field: String, into ruleset: borrowing FileDescriptor) throws(SandboxError) {
            // A path that exists only in a workspace (the caller creates it in the upper):
            // init opens it once the overlay is up.
            if let future = Self.missingPath(path, below: overlayRoots) {
                late.append(LateRule(path: future, access: access & handledFS))
                return
            }
            if let info = Files.statusFollowingLinks(path), info.st_mode & S_IFMT == S_IFBLK {
                throw SandboxError.invalidPolicy("\(field): '\(path)' is a block device: raw access to a disk reads and writes every file on it, past every grant and fs_denied; grant the directories of its filesystem instead")
            }
            let writes = access & ~Landlock.readAccess != 0
            try carveOuts.grant(path, field: field, readOnly: writes ? kernelInterfaces : []) { (target: String, clamp: DeniedPaths.Clamp) throws(SandboxError) in
                let rights = switch clamp {
                case .none: access
                case .listingOnly: access & UInt64(CSL_LL_FS_READ_DIR)
                case .readOnly: access & Landlock.readAccess
                }
                if let rule = try Self.grant(target, rights & handledFS, to: ruleset, field: field, deferringBelow: overlayRoots) {
                    late.append(rule)
                }
            }
        }
        for path in policy.fsReadable { try grant(path, Landlock.readAccess, "fs_readable", into: ruleset) }
        for path in policy.fsWritable { try grant(path, handledFS, "fs_writable", into: ruleset) }
        for path in extraReadWrite { try grant(path, handledFS, "fs_writable", into: ruleset) }
        if policy.defaultDevices {
            for device in Landlock.defaultDevices where access(device, F_OK) == 0 {
                try grant(device, UInt64(CSL_LL_FS_READ_FILE | CSL_LL_FS_WRITE_FILE), "default_devices", into: ruleset)
            }
        }
        if handledNet != 0 {
            for port in policy.netBind {
                if csl_landlock_add_port_rule(ruleset.rawValue, UInt64(port), UInt64(CSL_LL_NET_BIND_TCP)) != 0 {
                    throw SandboxError.systemCall("landlock_add_rule(bind port \(port))", .current)
                }
            }
            for port in connectPorts ?? [] {
                if csl_landlock_add_port_rule(ruleset.rawValue, UInt64(port), UInt64(CSL_LL_NET_CONNECT_TCP)) != 0 {
                    throw SandboxError.systemCall("landlock_add_rule(connect port \(port))", .current)
                }
            }
        }
        self.descriptor = ruleset
        self.lateRules = late
        self.missing = missing
        self.enforced = needed.filter { $0.minimumABI <= abi }
    }

    /// `path` made canonical when it does not exist but would be at or below one of
    /// `overlayRoots` (its nearest existing ancestor resolved, the rest appended), else nil.
    static func missingPath(_ path: String, below overlayRoots: [String]) -> String? {
        guard !overlayRoots.isEmpty, let future = Workspace.futureLocation(of: path) else { return nil }
        return overlayRoots.contains { Workspace.isSame(future, orBelow: $0) } ? future : nil
    }

    /// Adds a PATH_BENEATH rule, opening `path` with O_PATH; rights a non-directory cannot
    /// carry are masked off (the kernel would answer EINVAL).
    /// At or below one of `deferringBelow`, returns the rule for the child instead of adding it.
    private static func grant(_ path: String, _ access: UInt64, to ruleset: borrowing FileDescriptor, field: String,
                              deferringBelow overlayRoots: [String]) throws(SandboxError) -> LateRule? {
        let target: FileDescriptor
        do {
            target = try FileDescriptor(opening: path, flags: CSL_O_PATH)
        } catch {
            throw SandboxError.pathNotFound(path: path, field: field, error: error)
        }
        var rights = access
        if let info = try? target.status(), info.st_mode & S_IFMT != S_IFDIR {
            rights &= Landlock.fileAccess
        }
        if !overlayRoots.isEmpty, let real = Workspace.canonicalPath(path),
           overlayRoots.contains(where: { Workspace.isSame(real, orBelow: $0) }) {
            return LateRule(path: real, access: rights)
        }
        if csl_landlock_add_path_rule(ruleset.rawValue, target.rawValue, rights) != 0 {
            throw SandboxError.systemCall("landlock_add_rule(\(path))", .current)
        }
        return nil
    }
}

/// `fs_denied`, enforced by Landlock itself: a granted tree that contains a denied path is
/// granted entry by entry, down the directories that lead to it, leaving the denied entry out.
/// The kernel resolves `..`, symlinks and renames; a denied name cannot be linked or moved
/// because its directory carries no rights of its own beyond listing (and not even that when
/// a denied path is a directory, whose names listing would reveal). The price: nothing new can
/// be created directly in those ancestor directories (only in their granted subtrees), and
/// entries that appear there after the sandbox starts are not reachable.
struct DeniedPaths {
    private let paths: [String]
    /// With a virtual /proc: names under /proc left out of the grant (besides every pid
    /// directory, present or future); the supervisor serves what the sandbox may see of them.
    private let procHidden: Set<String>?
    /// `Landlock.deviceTree` and `Landlock.safeDevices`, canonical: a grant covering the tree
    /// leaves out every other device node in it.
    private let devices: (tree: String, safe: Set<String>)?

    init(_ denied: [String], allowHardLinks: Bool, procHidden: Set<String>? = nil) throws(SandboxError) {
        self.procHidden = procHidden
        devices = DeniedPaths.resolved(Landlock.deviceTree).map { ($0, Set(Landlock.safeDevices.compactMap(DeniedPaths.resolved))) }
        var paths: [String] = []
        for path in denied {
            let canonical = DeniedPaths.canonical(path)
            // Another name of the same file elsewhere in a grant would stay readable.
            if let info = Files.status(canonical), info.st_mode & S_IFMT != S_IFDIR, info.st_nlink > 1, !allowHardLinks {
                throw .invalidPolicy("fs_denied: '\(path)' has \(info.st_nlink) hard links; its other names would stay reachable (remove them, or allow degraded mode)")
            }
            paths.append(canonical)
        }
        self.paths = paths
    }

    /// How much of a grant's rights a rule carries.
    enum Clamp {
        /// All of them.
        case none
        /// Listing only: a directory that leads to a denied path.
        case listingOnly
        /// Read rights only: in or above a read-only tree (`readOnly` of `grant`).
        case readOnly
    }

    /// Calls `rule` for `path`, or for the pieces of it that exclude the denied paths; the
    /// directories that lead to a denied path get a listing-only rule. Trees at or below one
    /// of `readOnly` (canonical paths) get read rights only; a grant above one is split the
    /// same way, its directories down to the read-only tree getting read rights.
    func grant(_ path: String, field: String, readOnly: [String] = [],
               rule: (String, Clamp) throws(SandboxError) -> Void) throws(SandboxError) {
        guard let root = DeniedPaths.resolved(path) else {
            throw .pathNotFound(path: path, field: field, error: .current)
        }
        guard !paths.isEmpty || procHidden != nil || !readOnly.isEmpty || leadsToDevices(root) else { return try rule(path, .none) }
        if paths.contains(root) { return }
        let below = readOnly.contains { root == $0 || root.hasPrefix($0 + "/") }
        try split(root, readOnly: below ? [] : readOnly, clamp: below ? .readOnly : .none, rule: rule)
    }

    private func split(_ directory: String, readOnly: [String], clamp: Clamp,
                       rule: (String, Clamp) throws(SandboxError) -> Void) throws(SandboxError) {
        let prefix = directory == "/" ? "/" : directory + "/"
        let inside = paths.filter { $0.hasPrefix(prefix) }
        let leadsToProc = procHidden != nil && "/proc/".hasPrefix(prefix)
        let readOnlyInside = readOnly.filter { $0.hasPrefix(prefix) }
        let devicesInside = leadsToDevices(directory)
        guard !inside.isEmpty || leadsToProc || !readOnlyInside.isEmpty || devicesInside else { return try rule(directory, clamp) }
        if !inside.contains(where: DeniedPaths.isDirectory) {
            // Rights on a directory reach everything below it: with a denied path or device
            // nodes below, only listing; with a read-only tree below, only what that tree may have.
            try rule(directory, !inside.isEmpty || leadsToProc || devicesInside ? .listingOnly : .readOnly)
        }
        for name in (try? Directory.entries(atPath: directory, names: .lossy)) ?? [] {
            let child = prefix + name
            guard !paths.contains(child), !hiddenInProc(directory, name), let info = Files.status(child) else { continue }
            // A rule follows a symlink to its target, which could be the denied path itself.
            if info.st_mode & S_IFMT == S_IFLNK { continue }
            if Landlock.isDevice(info), let devices, !devices.safe.contains(child) { continue }
            let childClamp = readOnlyInside.contains(child) ? .readOnly : clamp
            if info.st_mode & S_IFMT == S_IFDIR {
                try split(child, readOnly: childClamp == .readOnly ? [] : readOnlyInside, clamp: childClamp, rule: rule)
            } else {
                try rule(child, childClamp)
            }
        }
    }

    /// Does a grant of `directory` (canonical) reach device nodes outside the safe list: is it
    /// above the device tree, or in it and neither a safe device nor a directory without any?
    private func leadsToDevices(_ directory: String) -> Bool {
        guard let devices else { return false }
        if devices.tree.hasPrefix(directory == "/" ? "/" : directory + "/") { return true }
        guard directory == devices.tree || directory.hasPrefix(devices.tree + "/"), !devices.safe.contains(directory) else { return false }
        return DeniedPaths.holdsDevice(directory)
    }

    /// Is there a device node below the directory `path` (symlinks not followed)? False for a
    /// device itself: a grant naming one is that grant.
    private static func holdsDevice(_ path: String) -> Bool {
        guard Files.status(path).map({ $0.st_mode & S_IFMT == S_IFDIR }) == true else { return false }
        return ((try? Directory.entries(atPath: path, names: .lossy)) ?? []).contains { name in
            let child = path + "/" + name
            return Files.status(child).map(Landlock.isDevice) == true || holdsDevice(child)
        }
    }

    private func hiddenInProc(_ directory: String, _ name: String) -> Bool {
        guard let procHidden, directory == "/proc" else { return false }
        return name.allSatisfy(\.isASCIIDigit) || procHidden.contains(name)
    }

    private static func isDirectory(_ path: String) -> Bool {
        Files.status(path).map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
    }

    static func resolved(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// The real path, or for a path that does not exist yet, its parent's real path plus its name.
    private static func canonical(_ path: String) -> String {
        if let real = resolved(path) { return real }
        let absolute = path.hasPrefix("/") ? path : (resolved(".") ?? "") + "/" + path
        guard let slash = absolute.lastIndex(of: "/") else { return absolute }
        let parent = String(absolute[..<slash]), name = String(absolute[absolute.index(after: slash)...])
        return (resolved(parent.isEmpty ? "/" : parent).map { $0 == "/" ? "" : $0 } ?? parent) + "/" + name
    }
}
