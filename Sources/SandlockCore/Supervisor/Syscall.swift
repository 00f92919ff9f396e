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

    private static func number(_ name: String) -> Int32 {
        seccomp_syscall_resolve_name(name)
    }
}

/// What the supervisor needs to see, derived from the policy: each feature traps only its
/// own syscalls, and a policy with none of them gets no supervisor at all.
struct SupervisorFeatures: Hashable, Sendable {
    var processLimit = false
    var memoryLimit = false
    var deterministicRandom = false
    var shiftedClock = false
    var sortedDirectories = false
    var virtualProc = false
    var virtualHostname = false
    var virtualCPUs = false
    /// IP connects and sends checked against `net_allow` and made on behalf.
    var networkGate = false
    /// Datagram sends (UDP, ICMP) are allowed, so sendmsg must be checked too.
    var datagrams = false
    /// `net_allow` names hosts: /etc/hosts is served with their pinned addresses.
    var pinnedHosts = false
    /// Virtual port space: binds on behalf, getsockname translated.
    var portRemap = false

    init(_ policy: Policy) {
        processLimit = policy.maxProcesses != nil
        memoryLimit = policy.maxMemory != nil
        deterministicRandom = policy.randomSeed != nil
        shiftedClock = policy.timeStart != nil
        sortedDirectories = policy.deterministicDirs
        virtualProc = ProcView.isVirtualized(for: policy)
        // Without a supervisor a name is only the registry's key.
        virtualHostname = policy.name != nil && !policy.noSupervisor
        virtualCPUs = policy.numCPUs != nil
        let rules = (try? policy.netAllow.map(NetworkRule.init(parsing:))) ?? []
        datagrams = policy.allowUDP || policy.allowICMP
        networkGate = datagrams || policy.portRemap || rules.contains { $0.host != .any }
        portRemap = policy.portRemap
        pinnedHosts = rules.contains { if case .name = $0.host { true } else { false } }
    }

    /// Smaller writable mappings are not trapped: they show in the process's data size, which
    /// the supervisor reads at every trapped allocation and polls every 100 ms.
    static let memoryTrapThreshold: UInt64 = 64 << 10

    var isEmpty: Bool { policyFields.isEmpty }

    /// What the supervisor serves, by policy field (`proc_virtualized`: a granted /proc): the
    /// result's `Enforcement` lists them, and no-supervisor mode refuses them by these names.
    var policyFields: [String] {
        let fields: [(Bool, String)] = [
            (processLimit, "max_processes"), (memoryLimit, "max_memory"), (deterministicRandom, "random_seed"),
            (shiftedClock, "time_start"), (sortedDirectories, "deterministic_dirs"), (virtualProc, "proc_virtualized"),
            (virtualHostname, "name"), (virtualCPUs, "num_cpus"),
            (networkGate && !datagrams && !portRemap, "net_allow"), (datagrams, "allow_udp/allow_icmp"), (portRemap, "port_remap"),
        ]
        return fields.filter(\.0).map(\.1)
    }

    /// Syscalls trapped unconditionally, by name; `clone` is trapped separately, threads excepted.
    var trappedSyscalls: Set<String> {
        var names: Set<String> = []
        if processLimit { names.formUnion(["fork", "vfork"]) }
        // mmap and mremap are trapped only for large writable growth (see `memoryTrapThreshold`).
        if memoryLimit { names.insert("brk") }
        if deterministicRandom { names.formUnion(["getrandom", "openat", "open"]) }
        if sortedDirectories { names.insert("getdents64") }
        if virtualProc { names.formUnion(["openat", "open", "getdents64"]) }
        if virtualHostname { names.formUnion(["uname", "openat", "open"]) }
        if virtualCPUs { names.formUnion(["sched_getaffinity", "openat", "open"]) }
        // sendto is trapped only with a destination address (see SeccompProgram).
        if networkGate { names.insert("connect") }
        if networkGate && datagrams { names.insert("sendmsg") }
        if pinnedHosts { names.formUnion(["openat", "open"]) }
        if portRemap { names.formUnion(["bind", "getsockname"]) }
        // execve marks a new image whose vDSO must be patched at its first brk/arch_prctl.
        if shiftedClock { names.formUnion(["clock_gettime", "gettimeofday", "time", "execve", "execveat", "brk", "arch_prctl"]) }
        return names
    }
}
