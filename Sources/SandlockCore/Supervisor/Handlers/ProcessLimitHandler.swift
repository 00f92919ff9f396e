#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// `max_processes`: a fork is admitted while live processes plus forks in flight stay under
/// the limit. clone is trapped for new processes only (threads do not count).
struct ProcessLimitHandler: SupervisorHandler {
    static func isNeeded(by policy: Policy) -> Bool { policy.maxProcesses != nil }
    static let policyField: String? = "max_processes"
    static let trappedSyscalls = ["fork", "vfork"]
    /// New processes, not threads: threads do not count against max_processes.
    static let filteredTraps = [FilteredTrap(name: "clone", conditions: [.masked(0, mask: UInt64(CSL_CLONE_THREAD), equals: 0)])]

    /// Threads whose fork we let through and that may still be inside it: their child may
    /// not be visible in /proc yet, so it counts as alive.
    private var forksInFlight: Set<pid_t> = []

    init(policy: Policy, initPID: pid_t) {}

    /// A fork is in flight until its thread has left the syscall: from then on its child is
    /// in /proc (or already gone). A thread that traps again has left its previous fork.
    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        guard let maxProcesses = context.maxProcesses else { return nil }
        let tid = call.pid
        forksInFlight.remove(tid)
        forksInFlight = forksInFlight.filter(ProcessTree.isInsideFork)
        let count = ProcessTree.liveProcesses(under: context.initPID).count + forksInFlight.count
        context.peakProcesses = max(context.peakProcesses, count)
        guard count < maxProcesses else { return .fail(EAGAIN) }
        forksInFlight.insert(tid)
        context.peakProcesses = max(context.peakProcesses, count + 1)
        return .proceed
    }
}
