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
    static let fileAccess: UInt64 = UInt64(
        CSL_LL_FS_EXECUTE | CSL_LL_FS_WRITE_FILE | CSL_LL_FS_READ_FILE | CSL_LL_FS_TRUNCATE | CSL_LL_FS_IOCTL_DEV)

    /// Every filesystem right the given ABI knows.
    static func filesystemRights(abi: Int) -> UInt64 {
        var rights: UInt64 = (1 << 13) - 1 // EXECUTE … MAKE_SYM (ABI 1)
        if abi >= 2 { rights |= UInt64(CSL_LL_FS_REFER) }
        if abi >= 3 { rights |= UInt64(CSL_LL_FS_TRUNCATE) }
        if abi >= 5 { rights |= UInt64(CSL_LL_FS_IOCTL_DEV) }
        return rights
    }

    /// Devices every sandbox may read and write unless the policy opts out.
    static let defaultDevices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]
}

/// A Landlock ruleset built in the parent, ready for `landlock_restrict_self` in the child.
struct LandlockRuleset: ~Copyable {
    let descriptor: FileDescriptor
    /// Protections the ruleset enforces on this kernel.
    let enforced: [Landlock.Protection]
    /// Protections this kernel lacks, when the policy allowed degraded mode.
    let missing: [Landlock.Protection]

    /// Builds the ruleset for a policy: every right of the running ABI is handled, so what
    /// is not granted is denied. Paths are opened with O_PATH here, in the parent.
    init(policy: Policy, extraReadWrite: [String] = [], handleNetwork: Bool = true,
         abi: Int = Landlock.abi) throws(SandboxError) {
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
        let handledNet: UInt64 = handleNetwork && abi >= 4 ? UInt64(CSL_LL_NET_BIND_TCP | CSL_LL_NET_CONNECT_TCP) : 0
        let scoped: UInt64 = abi >= 6 ? UInt64(CSL_LL_SCOPE_ABSTRACT_UNIX_SOCKET | CSL_LL_SCOPE_SIGNAL) : 0
        let fd = csl_landlock_create_ruleset(handledFS, handledNet, scoped, Int32(abi))
        guard fd >= 0 else {
            throw SandboxError.systemCall("landlock_create_ruleset", .current)
        }
        let ruleset = FileDescriptor(adopting: fd)
        let grant = { (path: String, access: UInt64, field: String) throws(SandboxError) in
            try Self.grant(path, access & handledFS, to: fd, field: field)
        }
        for path in policy.fsReadable { try grant(path, Landlock.readAccess, "fs_readable") }
        for path in policy.fsWritable { try grant(path, handledFS, "fs_writable") }
        for path in extraReadWrite { try grant(path, handledFS, "fs_writable") }
        if policy.defaultDevices {
            for device in Landlock.defaultDevices where access(device, F_OK) == 0 {
                try grant(device, UInt64(CSL_LL_FS_READ_FILE | CSL_LL_FS_WRITE_FILE), "default_devices")
            }
        }
        if handledNet != 0 {
            for port in policy.netBind {
                if csl_landlock_add_port_rule(fd, UInt64(port), UInt64(CSL_LL_NET_BIND_TCP)) != 0 {
                    throw SandboxError.systemCall("landlock_add_rule(bind port \(port))", .current)
                }
            }
        }
        self.descriptor = ruleset
        self.missing = missing
        self.enforced = needed.filter { $0.minimumABI <= abi }
    }

    /// Adds a PATH_BENEATH rule, opening `path` with O_PATH; rights a non-directory cannot
    /// carry are masked off (the kernel would answer EINVAL).
    private static func grant(_ path: String, _ access: UInt64, to ruleset: Int32, field: String) throws(SandboxError) {
        let target: FileDescriptor
        do {
            target = try FileDescriptor(opening: path, flags: CSL_O_PATH)
        } catch {
            throw SandboxError.pathNotFound(path: path, field: field, error: error)
        }
        var info = stat()
        var rights = access
        if fstat(target.rawValue, &info) == 0, info.st_mode & S_IFMT != S_IFDIR {
            rights &= Landlock.fileAccess
        }
        if csl_landlock_add_path_rule(ruleset, target.rawValue, rights) != 0 {
            throw SandboxError.systemCall("landlock_add_rule(\(path))", .current)
        }
    }
}
