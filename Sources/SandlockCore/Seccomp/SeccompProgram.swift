#if canImport(Glibc)
import Glibc
#endif
import CSandlock
import CSeccomp
import Synchronization

/// seccomp-bpf programs compiled with libseccomp in the parent and installed raw by the
/// child (libseccomp allocates, so it never runs after fork). Programs are cached by the
/// policy fields they depend on: a job run with a thousand shards compiles once.
struct SeccompProgram: Sendable {
    /// The deny list and the argument filters: a `struct sock_filter` array, as exported by
    /// `seccomp_export_bpf`.
    let bytes: [UInt8]
    /// Allowlist mode only: a second program that denies every syscall not listed. The
    /// kernel applies both and the stricter verdict wins, so the argument filters of the
    /// first program keep working for allowed syscalls.
    let allowlistBytes: [UInt8]?
    /// Supervised sandboxes only: the USER_NOTIF program, trapping exactly the syscalls the
    /// policy's supervisor features need; installed last, with a listener.
    let notifyBytes: [UInt8]?

    /// The syscall-relevant part of a policy: the cache key.
    struct Rules: Hashable, Sendable {
        var deny: [String]?
        var allow: [String]?
        var extraDeny: [String]
        var extraAllow: [String]
        var allowUDP: Bool
        var allowICMP: Bool
        var noSupervisor: Bool
        var supervised: SupervisorFeatures

        init(_ policy: Policy, _ features: SupervisorFeatures) {
            deny = policy.denySyscalls
            allow = policy.allowSyscalls
            extraDeny = policy.extraDenySyscalls
            extraAllow = policy.extraAllowSyscalls
            allowUDP = policy.allowUDP
            allowICMP = policy.allowICMP
            noSupervisor = policy.noSupervisor
            supervised = features
        }
    }

    private static let cache = Mutex<[Rules: SeccompProgram]>([:])

    static func compile(for policy: Policy, features: SupervisorFeatures) throws(SandboxError) -> SeccompProgram {
        let rules = Rules(policy, features)
        if let cached = cache.withLock({ $0[rules] }) { return cached }
        let program = try SeccompCompiler(rules: rules).compile()
        cache.withLock { $0[rules] = program }
        return program
    }
}

/// The default deny list and the argument filters, as libseccomp rules.
private struct SeccompCompiler {
    let rules: SeccompProgram.Rules

    /// Syscalls no sandboxed process needs and that widen the kernel's attack surface or
    /// escape confinement; they fail with EPERM.
    static let defaultDeny = [
        "mount", "umount2", "pivot_root", "swapon", "swapoff", "reboot", "sethostname",
        "setdomainname", "kexec_load", "kexec_file_load", "init_module", "finit_module",
        "delete_module", "unshare", "setns", "perf_event_open", "bpf", "userfaultfd", "keyctl",
        "add_key", "request_key", "ptrace", "process_vm_readv", "process_vm_writev",
        "open_by_handle_at", "name_to_handle_at", "ioperm", "iopl", "quotactl", "quotactl_fd",
        "acct", "lookup_dcookie", "nfsservctl", "io_uring_setup", "io_uring_enter",
        "io_uring_register", "clock_settime", "settimeofday", "adjtimex", "clock_adjtime",
        "syslog", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
        "mount_setattr", "open_tree_attr", "vhangup",
    ]

    /// Groups usable in `extra_deny_syscalls` / `extra_allow_syscalls`.
    static let groups: [String: [String]] = [
        "sysv_ipc": ["shmget", "shmat", "shmdt", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl",
                     "semget", "semop", "semctl", "semtimedop"],
    ]

    private static let eperm = csl_scmp_act_errno(EPERM)

    func compile() throws(SandboxError) -> SeccompProgram {
        let filters = try Self.withContext(defaultAction: csl_scmp_act_allow()) { context throws(SandboxError) in
            if rules.allow == nil { try addDenyList(context) }
            try addArgumentFilters(context)
        }
        var allowed: [UInt8]?
        if let allowlist = rules.allow {
            allowed = try Self.withContext(defaultAction: Self.eperm) { context throws(SandboxError) in
                for name in Set(allowlist + ["execve"]) where name != "clone3" {
                    try add(context, csl_scmp_act_allow(), name, [], userSupplied: true)
                }
                try add(context, csl_scmp_act_errno(ENOSYS), "clone3", [])
            }
        }
        var notify: [UInt8]?
        if !rules.supervised.isEmpty {
            notify = try Self.withContext(defaultAction: csl_scmp_act_allow()) { context throws(SandboxError) in
                for name in rules.supervised.trappedSyscalls {
                    try add(context, Self.notify, name, [])
                }
                for trap in rules.supervised.filteredTraps {
                    try add(context, Self.notify, trap.name, trap.conditions.map { ArgumentCondition(comparison: $0.comparison) })
                }
            }
        }
        return SeccompProgram(bytes: filters, allowlistBytes: allowed, notifyBytes: notify)
    }

    private static let notify: UInt32 = Kernel.scmpActNotify

    private static func withContext(defaultAction: UInt32, _ build: (scmp_filter_ctx) throws(SandboxError) -> Void) throws(SandboxError) -> [UInt8] {
        guard let context = seccomp_init(defaultAction) else {
            throw .systemCall("seccomp_init", .EINVAL)
        }
        defer { seccomp_release(context) }
        // Another architecture's syscall numbers would bypass every rule: kill the process.
        _ = seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, csl_scmp_act_kill_process())
        // A binary tree over syscall numbers: every syscall of the sandbox runs this program,
        // so O(log n) comparisons instead of one per rule.
        _ = seccomp_attr_set(context, SCMP_FLTATR_CTL_OPTIMIZE, Kernel.optimizeBinaryTree)
        try build(context)
        return try export(context)
    }

    private func addDenyList(_ context: scmp_filter_ctx) throws(SandboxError) {
        for group in rules.extraAllow where Self.groups[group] == nil {
            throw .invalidPolicy("extra_allow_syscalls: unknown group '\(group)' (known: \(Self.groups.keys.sorted().joined(separator: ", ")))")
        }
        var denied = rules.deny ?? Self.defaultDeny
        if rules.noSupervisor {
            // An inner sandbox's supervisor reads and writes its own children's memory;
            // Landlock still keeps that within this sandbox's domain.
            denied.removeAll { $0 == "process_vm_readv" || $0 == "process_vm_writev" }
        }
        if !rules.extraAllow.contains("sysv_ipc") { denied += Self.groups["sysv_ipc"]! }
        var userDenied: [String] = []
        for entry in rules.extraDeny {
            if let members = Self.groups[entry] { userDenied += members } else { userDenied.append(entry) }
        }
        for name in Set(denied) {
            // The default list names syscalls some architectures lack; a user's list must not.
            try add(context, Self.eperm, name, [], userSupplied: rules.deny != nil)
        }
        for name in Set(userDenied) where !denied.contains(name) {
            try add(context, Self.eperm, name, [], userSupplied: true)
        }
    }

    /// Filters on arguments that BPF can read (never pointers).
    private func addArgumentFilters(_ context: scmp_filter_ctx) throws(SandboxError) {
        let int32Mask = Kernel.int32Mask

        for flag in Kernel.namespaceFlags {
            try add(context, Self.eperm, "clone", [.masked(0, mask: flag, equals: flag)])
        }
        // clone3 passes its flags in memory BPF cannot read: ENOSYS makes libc fall back to clone.
        try add(context, csl_scmp_act_errno(ENOSYS), "clone3", [])

        for request in [Kernel.TIOCSTI, Kernel.TIOCLINUX] {
            try add(context, Self.eperm, "ioctl", [.masked(1, mask: int32Mask, equals: request)])
        }
        // Inode flags (chattr: append-only, nodump, project ids), the version, fs-verity and
        // encryption policies are set on a descriptor opened for reading, wherever Landlock
        // let it be opened: outside the write grants too. Denied outright (chattr inside a
        // write grant with them): a supervisor check would need the kernel's capability rules
        // for each flag, and builds do not set inode flags.
        for request in Kernel.inodeAttributeIoctls {
            try add(context, Self.eperm, "ioctl", [.masked(1, mask: int32Mask, equals: request)])
        }
        for option in [Kernel.PR_SET_DUMPABLE, Kernel.PR_SET_SECUREBITS, Kernel.PR_SET_PTRACER] {
            try add(context, Self.eperm, "prctl", [.masked(0, mask: int32Mask, equals: option)])
        }
        // Only the query form personality(0xffffffff) stays allowed.
        try add(context, Self.eperm, "personality", [.compare(0, SCMP_CMP_LT, Kernel.personalityQuery)])
        try add(context, Self.eperm, "personality", [.compare(0, SCMP_CMP_GT, Kernel.personalityQuery)])
        try addSocketFilters(context)
        // TCP Fast Open connects from sendto/sendmsg, around connect() and its checks.
        let fastOpen = Kernel.MSG_FASTOPEN
        try add(context, Self.eperm, "sendto", [.masked(3, mask: fastOpen, equals: fastOpen)])
        try add(context, Self.eperm, "sendmsg", [.masked(2, mask: fastOpen, equals: fastOpen)])
        // sendmmsg takes MSG_FASTOPEN too (its flags apply to every message).
        try add(context, Self.eperm, "sendmmsg", [.masked(3, mask: fastOpen, equals: fastOpen)])
        if rules.supervised.networkGate && rules.supervised.datagrams {
            // Batched sends are not checked one by one: ENOSYS makes libc fall back to sendto.
            try add(context, csl_scmp_act_errno(ENOSYS), "sendmmsg", [])
        }
        try addProcessAndFileFilters(context)
        try addNewerSyscallRules(context)
        if rules.noSupervisor { try addNoSupervisorRules(context) }
    }

    /// Without a supervisor nothing judges what Landlock (ABI ≤ 8) leaves to it: the path of
    /// a named unix socket, the target of a metadata call, the process a scheduling call
    /// names. Fail closed: the metadata calls (`FileMetadataHandler`'s), `socket(AF_UNIX, …)`
    /// and the scheduling calls naming a pid (`OtherProcessesHandler`'s) fail with EPERM;
    /// socketpair, which names nothing, and a process's own scheduling stay.
    private func addNoSupervisorRules(_ context: scmp_filter_ctx) throws(SandboxError) {
        for name in FileMetadataHandler.trappedSyscalls {
            try add(context, Self.eperm, name, [])
        }
        try add(context, Self.eperm, "socket", [.masked(0, mask: Kernel.int32Mask, equals: Kernel.AF_UNIX)])
        for trap in OtherProcessesHandler.filteredTraps {
            try add(context, Self.eperm, trap.name, trap.conditions.map { ArgumentCondition(comparison: $0.comparison) })
        }
    }

    /// Syscalls newer than libseccomp 2.5.4 that reach what no grant judges: the notify program
    /// cannot trap them by name, and a user's `deny_syscalls` must not drop them, so they are
    /// refused here by number (`Kernel.newerSyscalls`) whatever the policy. ENOSYS, as for a
    /// kernel without them: callers fall back to the older calls, which the metadata handler
    /// (setxattr, removexattr), Landlock (/proc/self/mountinfo) or the ioctl rules judge.
    static let unjudgedNewerSyscalls = [
        "setxattrat", "removexattrat",  // Linux 6.13: setxattr/removexattr relative to a dirfd
        "file_setattr",                 // Linux 6.17: FS_IOC_FSSETXATTR by path (nodump, append, projid)
        "statmount", "listmount",       // Linux 6.8: the mount tree, outside the readable set
        "lsm_set_self_attr",            // Linux 6.8: the labels the process's files and execs get
    ]

    private func addNewerSyscallRules(_ context: scmp_filter_ctx) throws(SandboxError) {
        for name in Self.unjudgedNewerSyscalls {
            try add(context, csl_scmp_act_errno(ENOSYS), name, [])
        }
    }

    /// Sockets: a family allowlist, and for IP the types and protocols Landlock's TCP rules
    /// and the supervisor's datagram checks know. Everything else fails with EPERM: MPTCP
    /// (which Landlock's TCP rules do not see) and SCTP, raw and packet sockets, and families
    /// with no business in a sandbox (AF_VSOCK reaches the hypervisor host; AF_BLUETOOTH,
    /// AF_XDP, AF_KEY, AF_RDS, AF_TIPC, AF_CAN, AF_ALG … widen the kernel's attack surface and
    /// some load modules on first use).
    private func addSocketFilters(_ context: scmp_filter_ctx) throws(SandboxError) {
        try denyOutside(context, "socket", argument: 0,
                        allowed: [Kernel.AF_UNIX, Kernel.AF_INET, Kernel.AF_INET6, Kernel.AF_NETLINK])
        try add(context, Self.eperm, "socketpair", [.compare(0, SCMP_CMP_NE, Kernel.AF_UNIX)])

        // Types: stream, datagram, seqpacket (unix) and raw (netlink); never RDM, DCCP or
        // packet. Only the type's low bits: the rest are flags.
        try denyOutside(context, "socket", argument: 1,
                        allowed: [Kernel.SOCK_STREAM, Kernel.SOCK_DGRAM, Kernel.SOCK_RAW, Kernel.SOCK_SEQPACKET],
                        bits: 4, bounded: false)
        // Protocols, whatever the family: TCP, UDP with allow_udp, ICMP with allow_icmp; never
        // MPTCP, SCTP, DCCP, UDP-Lite, L2TP/IP … (unix sockets take 0, netlink's rule is below).
        // Rules that also test the family and type would be exact but cost libseccomp several
        // times the compile time; a protocol that does not fit its family or type (a UDP
        // stream) is the kernel's to refuse.
        var protocols: [UInt64] = [0, Kernel.IPPROTO_TCP]
        if rules.allowUDP { protocols.append(Kernel.IPPROTO_UDP) }
        if rules.allowICMP { protocols += [Kernel.IPPROTO_ICMP, Kernel.IPPROTO_ICMPV6] }
        try denyOutside(context, "socket", argument: 2, allowed: protocols)
        for family in [Kernel.AF_INET, Kernel.AF_INET6] {
            let domain = ArgumentCondition.compare(0, SCMP_CMP_EQ, family)
            // IP: no raw sockets, no SEQPACKET (SCTP); datagrams only for UDP or ICMP.
            for type in [Kernel.SOCK_RAW, Kernel.SOCK_SEQPACKET] {
                try add(context, Self.eperm, "socket", [domain, .masked(1, mask: Kernel.SOCK_TYPE_MASK, equals: type)])
            }
            let dgram = ArgumentCondition.masked(1, mask: Kernel.SOCK_TYPE_MASK, equals: Kernel.SOCK_DGRAM)
            if !rules.allowUDP {
                if rules.allowICMP {
                    // Datagrams for ping only: protocol 0 would be UDP.
                    let icmp = family == Kernel.AF_INET ? Kernel.IPPROTO_ICMP : Kernel.IPPROTO_ICMPV6
                    try add(context, Self.eperm, "socket", [domain, dgram, .compare(2, SCMP_CMP_NE, icmp)])
                } else {
                    try add(context, Self.eperm, "socket", [domain, dgram])
                }
            }
        }
        // Netlink: routing queries (getaddrinfo, ip addr) only.
        try add(context, Self.eperm, "socket", [.compare(0, SCMP_CMP_EQ, Kernel.AF_NETLINK),
                                                .compare(2, SCMP_CMP_NE, Kernel.NETLINK_ROUTE)])
    }

    /// Limits on other processes, set-user-ID and set-group-ID bits, and device nodes: none
    /// of them is Landlock's to judge.
    private func addProcessAndFileFilters(_ context: scmp_filter_ctx) throws(SandboxError) {
        // prlimit64 on another process of the same uid (RLIMIT_CPU = 1 kills it). Its own
        // limits (pid 0: what glibc's setrlimit and getrlimit pass) and reading others' stay.
        try add(context, Self.eperm, "prlimit64", [.compare(0, SCMP_CMP_NE, 0), .compare(2, SCMP_CMP_NE, 0)])
        // Priorities of a whole user (every process of the uid on the host, `who` 0 included)
        // or of another process group; other processes by pid are the supervisor's to judge
        // (OtherProcessesHandler), refused outright without one.
        try add(context, Self.eperm, "setpriority", [.compare(0, SCMP_CMP_EQ, Kernel.PRIO_USER)])
        try add(context, Self.eperm, "setpriority", [.compare(0, SCMP_CMP_EQ, Kernel.PRIO_PGRP), .compare(1, SCMP_CMP_NE, 0)])
        try add(context, Self.eperm, "ioprio_set", [.compare(0, SCMP_CMP_EQ, Kernel.IOPRIO_WHO_USER)])
        try add(context, Self.eperm, "ioprio_set", [.compare(0, SCMP_CMP_EQ, Kernel.IOPRIO_WHO_PGRP), .compare(1, SCMP_CMP_NE, 0)])

        // No set-user-ID or set-group-ID file leaves a sandbox: a root caller's sandbox (uid 0
        // without capabilities) would otherwise leave setuid-root programs on the host.
        let setIDBits = [Kernel.S_ISUID, Kernel.S_ISGID]
        for (name, mode) in [("chmod", 1), ("fchmod", 1), ("fchmodat", 2), ("fchmodat2", 2), ("creat", 1)] as [(String, UInt32)] {
            for bit in setIDBits { try add(context, Self.eperm, name, [.masked(mode, mask: bit, equals: bit)]) }
        }
        // open/openat use their mode only to create (O_CREAT, O_TMPFILE).
        for (name, flags, mode) in [("open", 1, 2), ("openat", 2, 3)] as [(String, UInt32, UInt32)] {
            for creating in [Kernel.O_CREAT, Kernel.O_TMPFILE_BIT] {
                for bit in setIDBits {
                    try add(context, Self.eperm, name, [.masked(flags, mask: creating, equals: creating), .masked(mode, mask: bit, equals: bit)])
                }
            }
        }
        // mknod: no devices (Landlock's MAKE_CHAR/MAKE_BLOCK cover granted trees only, and a
        // root caller keeping capabilities could make one), no set-ID regular files.
        for (name, mode) in [("mknod", 1), ("mknodat", 2)] as [(String, UInt32)] {
            for type in [Kernel.S_IFCHR, Kernel.S_IFBLK] {
                try add(context, Self.eperm, name, [.masked(mode, mask: Kernel.S_IFMT, equals: type)])
            }
            for bit in setIDBits { try add(context, Self.eperm, name, [.masked(mode, mask: bit, equals: bit)]) }
        }
        // openat2 passes flags and mode in memory BPF cannot read (like clone3): ENOSYS makes
        // callers fall back to openat, whose mode the rules above see.
        try add(context, csl_scmp_act_errno(ENOSYS), "openat2", [])
    }

    /// Denies `name` when its integer `argument` is none of `allowed` (and `conditions` hold).
    ///
    /// libseccomp takes one comparison per argument in a rule, so "not in the set" is spelled
    /// as rules that each match part of the complement: with `bounded`, any value above the
    /// `bits`-bit range (a 64-bit compare, which also catches garbage in the upper half of an
    /// `int` the kernel would truncate); and the rest of the range as masked compares of the
    /// low `bits` bits, one per maximal power-of-two block without an allowed value (a walk
    /// down the binary trie of the allowed values: at most `bits` rules per allowed value).
    private func denyOutside(_ context: scmp_filter_ctx, _ name: String, argument: UInt32, allowed: [UInt64],
                             bits: Int? = nil, bounded: Bool = true, with conditions: [ArgumentCondition] = []) throws(SandboxError) {
        guard !allowed.isEmpty else { return try add(context, Self.eperm, name, conditions) }
        let width = bits ?? (64 - allowed.max()!.leadingZeroBitCount)
        let range: UInt64 = (1 << width) - 1
        if bounded {
            try add(context, Self.eperm, name, conditions + [.compare(argument, SCMP_CMP_GT, range)])
        }
        for (mask, value) in Self.complementBlocks(of: Set(allowed), bits: width) {
            try add(context, Self.eperm, name, conditions + [.masked(argument, mask: mask, equals: value)])
        }
    }

    /// The values of `bits` bits that are not in `allowed`, as (mask, value) blocks: a value
    /// `v` is in a block when `v & mask == value`.
    static func complementBlocks(of allowed: Set<UInt64>, bits: Int) -> [(mask: UInt64, value: UInt64)] {
        var blocks: [(mask: UInt64, value: UInt64)] = []
        let all: UInt64 = (1 << bits) - 1
        func visit(_ low: UInt64, freeBits: Int) {
            let high = low + (1 << freeBits) - 1
            guard allowed.contains(where: { $0 >= low && $0 <= high }) else {
                blocks.append((all & ~((1 << freeBits) - 1), low))
                return
            }
            guard freeBits > 0 else { return }  // an allowed value
            visit(low, freeBits: freeBits - 1)
            visit(low + (1 << (freeBits - 1)), freeBits: freeBits - 1)
        }
        visit(0, freeBits: bits)
        return blocks
    }

    struct ArgumentCondition {
        var comparison: scmp_arg_cmp

        static func masked(_ argument: UInt32, mask: UInt64, equals value: UInt64) -> Self {
            Self(comparison: scmp_arg_cmp(arg: argument, op: SCMP_CMP_MASKED_EQ, datum_a: mask, datum_b: value))
        }

        static func compare(_ argument: UInt32, _ op: scmp_compare, _ value: UInt64) -> Self {
            Self(comparison: scmp_arg_cmp(arg: argument, op: op, datum_a: value, datum_b: 0))
        }
    }

    private func add(_ context: scmp_filter_ctx, _ action: UInt32, _ name: String,
                     _ conditions: [ArgumentCondition], userSupplied: Bool = false) throws(SandboxError) {
        var number = seccomp_syscall_resolve_name(name)
        if number == __NR_SCMP_ERROR, let known = Kernel.newerSyscalls[name] { number = known }
        guard number != __NR_SCMP_ERROR else {
            if userSupplied { throw .invalidPolicy("unknown syscall '\(name)'") }
            return
        }
        let comparisons = conditions.map(\.comparison)
        let rc = comparisons.withUnsafeBufferPointer {
            seccomp_rule_add_array(context, action, number, UInt32($0.count), $0.baseAddress)
        }
        // Negative pseudo-numbers name syscalls this architecture does not have.
        if rc < 0 && !(number < 0 && !userSupplied) {
            throw .invalidPolicy("seccomp rule for '\(name)' rejected: \(Errno(rawValue: -rc))")
        }
    }

    private static func export(_ context: scmp_filter_ctx) throws(SandboxError) -> [UInt8] {
        let memfd = csl_memfd("sandlock-bpf")
        guard memfd >= 0 else { throw .systemCall("memfd_create", .current) }
        let file = FileDescriptor(adopting: memfd)
        let rc = seccomp_export_bpf(context, file.rawValue)
        guard rc == 0 else { throw .systemCall("seccomp_export_bpf", Errno(rawValue: -rc)) }
        let size: Int
        do { size = Int(try file.status().st_size) } catch { throw .systemCall("fstat(bpf)", error) }
        var bytes = [UInt8](repeating: 0, count: size)
        let read = bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(Errno) in try file.read(into: buffer, at: 0) }
        }
        switch read {
        case .success(size): return bytes
        case .success: throw .systemCall("pread(bpf)", .EINVAL)
        case .failure(let error): throw .systemCall("pread(bpf)", error)
        }
    }
}

/// The kernel constants the filters compare arguments with (from the UAPI headers, which the
/// Glibc module does not show: they need _GNU_SOURCE or are not in glibc's headers at all).
private enum Kernel {
    /// SCMP_ACT_NOTIFY (seccomp.h).
    static let scmpActNotify: UInt32 = 0x7fc0_0000
    /// SCMP_FLTATR_CTL_OPTIMIZE level 2: a binary tree over syscall numbers.
    static let optimizeBinaryTree: UInt32 = 2
    /// The low 32 bits: an `int` argument compared without its sign-extended upper half.
    static let int32Mask: UInt64 = 0xffff_ffff

    /// CLONE_THREAD (linux/sched.h).
    static let cloneThread: UInt64 = 0x0001_0000
    /// The CLONE_NEW* flags (linux/sched.h): a sandboxed process creates no namespace.
    static let namespaceFlags: [UInt64] = [
        0x0002_0000, // CLONE_NEWNS
        0x0200_0000, // CLONE_NEWCGROUP
        0x0400_0000, // CLONE_NEWUTS
        0x0800_0000, // CLONE_NEWIPC
        0x1000_0000, // CLONE_NEWUSER
        0x2000_0000, // CLONE_NEWPID
        0x4000_0000, // CLONE_NEWNET
        0x0000_0080, // CLONE_NEWTIME
    ]

    /// asm-generic/ioctls.h: faking terminal input, and the console's own requests.
    static let TIOCSTI: UInt64 = 0x5412
    static let TIOCLINUX: UInt64 = 0x541C

    /// linux/fs.h, fsverity.h, fscrypt.h: ioctls that change an inode's attributes.
    static let inodeAttributeIoctls: [UInt64] = [
        0x4008_6602, 0x4004_6602,  // FS_IOC_SETFLAGS, FS_IOC32_SETFLAGS
        0x401c_5820,               // FS_IOC_FSSETXATTR
        0x4008_7602, 0x4004_7602,  // FS_IOC_SETVERSION, FS_IOC32_SETVERSION
        0x4080_6685,               // FS_IOC_ENABLE_VERITY (the file becomes read-only for good)
        0x800c_6613,               // FS_IOC_SET_ENCRYPTION_POLICY
    ]

    /// linux/resource.h and linux/ioprio.h: whose priority setpriority and ioprio_set change.
    static let PRIO_PGRP: UInt64 = 1
    static let PRIO_USER: UInt64 = 2
    static let IOPRIO_WHO_PGRP: UInt64 = 2
    static let IOPRIO_WHO_USER: UInt64 = 3

    /// linux/prctl.h.
    static let PR_SET_DUMPABLE: UInt64 = 4
    static let PR_SET_SECUREBITS: UInt64 = 28
    static let PR_SET_PTRACER: UInt64 = 0x5961_6d61

    /// personality(0xffffffff) only queries the persona.
    static let personalityQuery: UInt64 = 0xffff_ffff

    /// linux/socket.h address families.
    static let AF_UNIX: UInt64 = 1
    static let AF_INET: UInt64 = 2
    static let AF_INET6: UInt64 = 10
    static let AF_NETLINK: UInt64 = 16
    /// The socket type's low bits, without SOCK_NONBLOCK / SOCK_CLOEXEC.
    static let SOCK_TYPE_MASK: UInt64 = 0xf
    static let SOCK_STREAM: UInt64 = 1
    static let SOCK_DGRAM: UInt64 = 2
    static let SOCK_RAW: UInt64 = 3
    static let SOCK_SEQPACKET: UInt64 = 5
    static let IPPROTO_ICMP: UInt64 = 1
    static let IPPROTO_TCP: UInt64 = 6
    static let IPPROTO_UDP: UInt64 = 17
    static let IPPROTO_ICMPV6: UInt64 = 58
    /// linux/netlink.h: routing queries (getaddrinfo, ip addr).
    static let NETLINK_ROUTE: UInt64 = 0
    /// MSG_FASTOPEN (linux/socket.h): a connect hidden in sendto/sendmsg.
    static let MSG_FASTOPEN: UInt64 = 0x2000_0000

    /// linux/stat.h: the file type bits and the set-ID bits of a mode.
    static let S_IFMT: UInt64 = 0o170000
    static let S_IFCHR: UInt64 = 0o020000
    static let S_IFBLK: UInt64 = 0o060000
    static let S_ISUID: UInt64 = 0o4000
    static let S_ISGID: UInt64 = 0o2000
    /// asm-generic/fcntl.h (x86_64 and aarch64): the flags under which open uses its mode.
    static let O_CREAT: UInt64 = 0o100
    static let O_TMPFILE_BIT: UInt64 = 0o20000000

    /// Syscalls newer than the libseccomp we build with (2.5.4), by number. Since Linux 5.1
    /// new syscalls have one number on every architecture but alpha.
    static let newerSyscalls: [String: Int32] = [
        "statmount": 457, "listmount": 458,  // Linux 6.8
        "lsm_get_self_attr": 459, "lsm_set_self_attr": 460, "lsm_list_modules": 461,  // Linux 6.8
        "mseal": 462,  // Linux 6.10
        "setxattrat": 463, "getxattrat": 464, "listxattrat": 465, "removexattrat": 466,  // Linux 6.13
        "open_tree_attr": 467,  // Linux 6.15: open_tree with mount attributes
        "file_getattr": 468, "file_setattr": 469,  // Linux 6.17
    ]
}

extension SeccompProgram {
    /// Groups usable in `extra_deny_syscalls` / `extra_allow_syscalls`, for `Policy.validate()`.
    static var groups: [String: [String]] { SeccompCompiler.groups }

    /// Does libseccomp, or our table of newer syscalls, know `name`?
    static func knows(_ name: String) -> Bool {
        seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR || Kernel.newerSyscalls[name] != nil
    }
}
