#if canImport(Glibc)
import Glibc
#endif
import CSeccomp

/// Numbers of the syscalls the supervisor handles, resolved by libseccomp for the native
/// architecture (so the code names syscalls, never numbers).
enum Syscall {
    static let clone = number("clone")
    static let fork = number("fork")
    static let vfork = number("vfork")
    static let execve = number("execve")
    static let execveat = number("execveat")
    static let brk = number("brk")
    static let mmap = number("mmap")
    static let mremap = number("mremap")
    static let archPrctl = number("arch_prctl")
    static let getrandom = number("getrandom")
    static let openat = number("openat")
    static let open = number("open")
    static let clockGettime = number("clock_gettime")
    static let gettimeofday = number("gettimeofday")
    static let time = number("time")
    static let getdents64 = number("getdents64")
    static let uname = number("uname")
    static let connect = number("connect")
    static let sendto = number("sendto")
    static let sendmsg = number("sendmsg")
    static let bind = number("bind")
    static let getsockname = number("getsockname")
    static let schedGetaffinity = number("sched_getaffinity")
    static let listen = number("listen")
    static let socket = number("socket")
    static let socketpair = number("socketpair")
    static let sendmmsg = number("sendmmsg")
    static let chmod = number("chmod"), fchmod = number("fchmod"), fchmodat = number("fchmodat"), fchmodat2 = number("fchmodat2")
    static let chown = number("chown"), lchown = number("lchown"), fchown = number("fchown"), fchownat = number("fchownat")
    static let utimensat = number("utimensat"), utimes = number("utimes"), futimesat = number("futimesat"), utime = number("utime")
    static let setxattr = number("setxattr"), lsetxattr = number("lsetxattr"), fsetxattr = number("fsetxattr")
    static let removexattr = number("removexattr"), lremovexattr = number("lremovexattr"), fremovexattr = number("fremovexattr")
    static let setpriority = number("setpriority"), ioprioSet = number("ioprio_set")

    private static func number(_ name: String) -> Int32 {
        seccomp_syscall_resolve_name(name)
    }
}

/// What the supervisor needs to see, derived from the policy: the handlers it needs (each
/// traps only its own syscalls), and none at all for a policy needing none of them.
struct SupervisorFeatures: Hashable, Sendable {
    /// Every handler, in the order their policy fields are listed.
    static let handlerTypes: [any SupervisorHandler.Type] = [
        ProcessLimitHandler.self, MemoryLimitHandler.self, DeterministicRandomHandler.self,
        ShiftedClockHandler.self, SortedDirectoriesHandler.self, ProcViewHandler.self,
        VirtualHostnameHandler.self, VirtualCPUsHandler.self,
        NetworkAllowHandler.self, DatagramHandler.self, PortRemapHandler.self, PinnedHostsHandler.self,
        UnixSocketHandler.self, FileMetadataHandler.self, OtherProcessesHandler.self,
    ]

    /// The order in which handlers sharing a syscall are asked (the first verdict wins): the
    /// vDSO patch before max_memory's charge at brk; for opens, /dev/urandom, then the
    /// identity files (some live in /proc), the pinned /etc/hosts, and the /proc view last.
    static let dispatchOrder: [any SupervisorHandler.Type] = [
        ProcessLimitHandler.self, ShiftedClockHandler.self, MemoryLimitHandler.self,
        DeterministicRandomHandler.self, VirtualHostnameHandler.self, VirtualCPUsHandler.self,
        PinnedHostsHandler.self, ProcViewHandler.self, SortedDirectoriesHandler.self,
        NetworkAllowHandler.self, DatagramHandler.self, PortRemapHandler.self, UnixSocketHandler.self,
        FileMetadataHandler.self, OtherProcessesHandler.self,
    ]

    /// The handlers this policy needs, in `handlerTypes` order.
    let handlers: [ObjectIdentifier]

    init(_ policy: Policy) {
        handlers = Self.handlerTypes.filter { $0.isNeeded(by: policy) }.map { ObjectIdentifier($0) }
    }

    func needs(_ handler: any SupervisorHandler.Type) -> Bool { handlers.contains(ObjectIdentifier(handler)) }

    var processLimit: Bool { needs(ProcessLimitHandler.self) }
    var memoryLimit: Bool { needs(MemoryLimitHandler.self) }
    /// IP connects and sends checked against `net_allow` and made on behalf.
    var networkGate: Bool { needs(NetworkAllowHandler.self) || needs(DatagramHandler.self) || needs(PortRemapHandler.self) }
    /// Datagram sends (UDP, ICMP) are allowed, so sendmsg is checked too.
    var datagrams: Bool { needs(DatagramHandler.self) }

    /// Smaller writable mappings are not trapped: they show in the process's data size, which
    /// the supervisor reads at every trapped allocation and polls every 100 ms.
    static let memoryTrapThreshold: UInt64 = 64 << 10

    var isEmpty: Bool { handlers.isEmpty }

    /// What the supervisor serves, by policy field (`proc_virtualized`: a granted /proc): the
    /// result's `Enforcement` lists them, and no-supervisor mode refuses them by these names.
    var policyFields: [String] {
        Self.handlerTypes.filter(needs).compactMap { $0.policyField }
    }

    /// Syscalls trapped unconditionally, by name.
    var trappedSyscalls: Set<String> {
        Set(Self.handlerTypes.filter(needs).flatMap { $0.trappedSyscalls })
    }

    /// Syscalls trapped when their arguments match, one each (handlers may share one).
    var filteredTraps: [FilteredTrap] {
        var seen: Set<String> = []
        return Self.handlerTypes.filter(needs).flatMap { $0.filteredTraps }.filter { seen.insert($0.name).inserted }
    }

    /// Fresh handlers for one sandbox, in dispatch order.
    func makeHandlers(policy: Policy, initPID: pid_t) -> [any SupervisorHandler] {
        Self.dispatchOrder.filter(needs).map { $0.init(policy: policy, initPID: initPID) }
    }
}
