#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// `max_processes`: a fork is admitted while live processes plus forks in flight stay under
/// the limit. Threads are bounded too, by `taskLimit(for:)`: every `clone` is trapped (clone3
/// is refused with ENOSYS, so libc falls back to clone), and one that creates a thread is
/// admitted while the sandbox's tasks (every thread of every process) stay under that bound.
/// A thread bomb would otherwise exhaust the host's pids under any `-P`.
struct ProcessLimitHandler: SupervisorHandler {
    static func isNeeded(by policy: Policy) -> Bool { policy.maxProcesses != nil }
    static let policyField: String? = "max_processes"
    static let trappedSyscalls = ["fork", "vfork", "clone"]

    /// Tasks (threads included) a sandbox under `-P maxProcesses` may have at once: 32 per
    /// process, and never fewer than 256 (a single runtime — a JVM, Go — starts dozens).
    static func taskLimit(for maxProcesses: Int) -> Int {
        let (product, overflow) = maxProcesses.multipliedReportingOverflow(by: 32)
        return overflow ? Int.max : max(256, product)
    }

    /// Threads whose fork (or thread clone, `true`) we let through and that may still be
    /// inside it: their child may not be visible in /proc yet, so it counts as alive.
    private var inFlight: [pid_t: Bool] = [:]
    /// The processes of the last walk of the tree, still all of them while no fork has
    /// completed since (every fork is trapped): a thread clone then reads only their thread
    /// counts instead of walking every thread's children again.
    private var knownProcesses: Set<pid_t> = []
    private var knownProcessesAreCurrent = false

    init(policy: Policy, initPID: pid_t) {}

    /// A fork is in flight until its thread has left the syscall: from then on its child is
    /// in /proc (or already gone). A thread that traps again has left its previous fork.
    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        guard let maxProcesses = context.maxProcesses else { return nil }
        let tid = call.pid
        let isThread = call.nr == Syscall.clone && call.args[0] & UInt64(CSL_CLONE_THREAD) != 0
        let before = inFlight
        inFlight[tid] = nil
        inFlight = inFlight.filter { ProcessTree.isInsideFork($0.key) }
        // A fork that completed made a process the last walk did not see.
        if before.contains(where: { !$0.value && inFlight[$0.key] == nil }) { knownProcessesAreCurrent = false }
        let threadsInFlight = inFlight.values.filter { $0 }.count
        let processes: Int, tasks: Int
        if isThread && knownProcessesAreCurrent {
            var counted = 0
            for pid in knownProcesses {
                if let threads = ProcessTree.threadCount(of: pid) { counted += threads } else { knownProcesses.remove(pid) }
            }
            processes = knownProcesses.count + inFlight.count - threadsInFlight
            tasks = counted + inFlight.count
        } else {
            let live = ProcessTree.liveTasks(under: context.initPID)
            (knownProcesses, knownProcessesAreCurrent) = (live.processes, true)
            processes = live.processes.count + inFlight.count - threadsInFlight
            tasks = live.tasks + inFlight.count
        }
        context.peakProcesses = max(context.peakProcesses, processes)
        if isThread {
            guard tasks < Self.taskLimit(for: maxProcesses) else { return .fail(EAGAIN) }
        } else {
            guard processes < maxProcesses, tasks < Self.taskLimit(for: maxProcesses) else { return .fail(EAGAIN) }
            context.peakProcesses = max(context.peakProcesses, processes + 1)
        }
        inFlight[tid] = isThread
        return .proceed
    }
}
