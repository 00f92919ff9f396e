#if canImport(Glibc)
import Glibc
#endif

/// `name`: the sandbox's host name, through uname and the files programs read it from.
/// Without a supervisor a name is only the registry's key.
struct VirtualHostnameHandler: SupervisorHandler {
    static func isNeeded(by policy: Policy) -> Bool { policy.name != nil && !policy.noSupervisor }
    static let policyField: String? = "name"
    static let trappedSyscalls = ["uname", "openat", "open"]

    private let identity: VirtualIdentity

    init(policy: Policy, initPID: pid_t) { identity = VirtualIdentity(policy: policy) }

    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        if call.nr == Syscall.uname { return identity.uname(pid: call.pid, address: call.args[0], stillPending: call.stillPending) }
        return identity.serveOpen(&call)
    }
}

/// `num_cpus`: that many CPUs, through sched_getaffinity and the files that list CPUs.
struct VirtualCPUsHandler: SupervisorHandler {
    static func isNeeded(by policy: Policy) -> Bool { policy.numCPUs != nil }
    static let policyField: String? = "num_cpus"
    static let trappedSyscalls = ["sched_getaffinity", "openat", "open"]

    private let identity: VirtualIdentity

    init(policy: Policy, initPID: pid_t) { identity = VirtualIdentity(policy: policy) }

    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        if call.nr == Syscall.schedGetaffinity {
            return identity.affinity(pid: call.pid, size: call.args[1], address: call.args[2], stillPending: call.stillPending)
        }
        return identity.serveOpen(&call)
    }
}

extension VirtualIdentity {
    /// An open of one of the identity files, answered with its virtual contents.
    func serveOpen(_ call: inout TrappedCall) -> SupervisorState.Verdict? {
        guard let path = call.openPath(), let content = file(path) else { return nil }
        return .memoryFile(content, cloexec: call.openCloexec)
    }
}
