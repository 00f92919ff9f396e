#if canImport(Glibc)
import Glibc
#endif

/// `proc_virtualized` (a granted /proc): only the sandbox's own processes exist in it, its
/// meminfo says max_memory, its socket tables list its own sockets with virtual ports, and
/// magic links are reopened safely.
struct ProcViewHandler: SupervisorHandler {
    static func isNeeded(by policy: Policy) -> Bool { ProcView.isVirtualized(for: policy) }
    static let policyField: String? = "proc_virtualized"
    static let trappedSyscalls = ["openat", "open", "getdents64"]

    init(policy: Policy, initPID: pid_t) {}

    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        if call.nr == Syscall.getdents64 { return context.listDirectory(call) }
        guard let procView = context.procView, let path = call.openPath() else { return nil }
        return procView.open(path: path, directoryFD: call.openDirectory, flags: call.openFlags, tid: call.pid,
                             memoryInUse: context.memory.inUse, ports: context.network?.ports ?? PortMap())
    }
}

/// `deterministic_dirs`: directory listings sorted by name, the same in every run.
struct SortedDirectoriesHandler: SupervisorHandler {
    static func isNeeded(by policy: Policy) -> Bool { policy.deterministicDirs }
    static let policyField: String? = "deterministic_dirs"
    static let trappedSyscalls = ["getdents64"]

    init(policy: Policy, initPID: pid_t) {}

    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        context.listDirectory(call)
    }
}
