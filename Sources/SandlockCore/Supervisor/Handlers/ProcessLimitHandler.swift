#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// `max_processes` where the kernel cannot enforce it (`ProcessLimit.Mechanism.supervisor`):
/// the same bound as the kernel's — every task counts, threads included — checked at each
/// trapped fork, vfork and clone (clone3 is refused with ENOSYS, so libc falls back to clone).
/// A clone is admitted while the sandbox's tasks plus the clones in flight stay under the limit.
struct ProcessLimitHandler: SupervisorHandler {
    /// Only where the kernel cannot bound the sandbox (`ProcessLimit`): a held clone can be
    /// interrupted by a signal that arrives before the supervisor reads it.
    static func isNeeded(by policy: Policy) -> Bool {
        policy.maxProcesses != nil && ProcessLimit.mechanism(for: policy) == .supervisor
    }
    static let policyField: String? = "max_processes"
    static let trappedSyscalls = ["fork", "vfork", "clone"]

    /// Threads whose fork (or thread clone, `true`) we let through and that may still be
    /// inside it: their child may not be visible in /proc yet, so it counts as alive.
    private var inFlight: [pid_t: Bool] = [:]
    /// The processes of the last walk of the tree, still all of them while no fork has
    /// completed since (every fork is trapped): a thread clone then reads only their thread
    /// counts instead of walking every thread's children again.
    private var knownProcesses: Set<pid_t> = []
    private var knownProcessesAreCurrent = false

    init(policy: Policy, initPID: pid_t) {}

    /// A clone is in flight until its thread has left the syscall: from then on its child is
    /// in /proc (or already gone). A thread that traps again has left its previous clone.
    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        guard let maxProcesses = context.maxProcesses else { return nil }
        let tid = call.pid
        let isThread = call.nr == Syscall.clone && call.args[0] & UInt64(CSL_CLONE_THREAD) != 0
        let before = inFlight
        inFlight[tid] = nil
        inFlight = inFlight.filter { ProcessTree.isInsideFork($0.key) }
        // A fork that completed made a process the last walk did not see.
        if before.contains(where: { !$0.value && inFlight[$0.key] == nil }) { knownProcessesAreCurrent = false }
        var tasks = inFlight.count
        if isThread && knownProcessesAreCurrent {
            for pid in knownProcesses {
                if let threads = ProcessTree.threadCount(of: pid) { tasks += threads } else { knownProcesses.remove(pid) }
            }
        } else {
            let live = ProcessTree.liveTasks(under: context.initPID)
            (knownProcesses, knownProcessesAreCurrent) = (live.processes, true)
            tasks += live.tasks
        }
        context.peakProcesses = max(context.peakProcesses, tasks)
        guard tasks < maxProcesses else { return .fail(EAGAIN) }
        context.peakProcesses = max(context.peakProcesses, tasks + 1)
        inFlight[tid] = isThread
        return .proceed
    }
}
