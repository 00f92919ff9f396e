#if canImport(Glibc)
import Glibc
#endif
import CSeccomp

/// `max_memory`: every trapped allocation (brk, and mmap/mremap of at least
/// `SupervisorFeatures.memoryTrapThreshold` writable bytes) charges the process with its
/// data+stack size plus the growth, plus the shared memory it was last seen to hold; the
/// sandbox's total must stay within the limit. Smaller growth, and shared memory (shared
/// anonymous maps, memfd and /dev/shm files, which no allocation call shows), are caught by
/// the periodic check (`SupervisorState.pollMemory`).
///
/// A new image (execve, or the `brk(0)` every libc makes first) starts a new break: the
/// previous image's break is forgotten, or the distance between the two heaps (randomized,
/// often hundreds of GiB) would be charged as growth.
struct MemoryLimitHandler: SupervisorHandler {
    static func isNeeded(by policy: Policy) -> Bool { policy.maxMemory != nil }
    static let policyField: String? = "max_memory"
    static let trappedSyscalls = ["brk", "execve", "execveat"]
    static let filteredTraps = [
        FilteredTrap(name: "mmap", conditions: [.compare(1, SCMP_CMP_GE, SupervisorFeatures.memoryTrapThreshold),
                                                .masked(2, mask: UInt64(PROT_WRITE), equals: UInt64(PROT_WRITE))]),
        FilteredTrap(name: "mremap", conditions: [.compare(2, SCMP_CMP_GE, SupervisorFeatures.memoryTrapThreshold)]),
    ]

    init(policy: Policy, initPID: pid_t) {}

    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        guard let maxMemory = context.maxMemory else { return nil }
        let (pid, args) = (call.pid, call.args)
        var growth: UInt64 = 0
        switch call.nr {
        case Syscall.execve, Syscall.execveat:
            // The break is the new image's; if the exec fails, the next brk starts afresh.
            context.memory.lastBreak[pid] = nil
            return nil
        case Syscall.mmap:
            let protection = Int32(truncatingIfNeeded: args[2]), flags = Int32(truncatingIfNeeded: args[3])
            let privateWritable = flags & MAP_PRIVATE != 0 && protection & PROT_WRITE != 0
            let sharedAnonymous = flags & MAP_SHARED != 0 && flags & MAP_ANONYMOUS != 0
            if privateWritable || sharedAnonymous { growth = args[1] }
        case Syscall.mremap:
            growth = args[2] > args[1] ? args[2] - args[1] : 0
        default: // brk
            if args[0] == 0 {
                // A query: how libc learns a new image's break. The next brk is measured from
                // the next value we see (statm shows what this one granted, at once).
                context.memory.lastBreak[pid] = nil
            } else {
                if let previous = context.memory.lastBreak[pid], args[0] > previous { growth = args[0] - previous }
                context.memory.lastBreak[pid] = args[0]
            }
        }
        guard let base = context.memory.dataBytes(of: pid) else { return .proceed }
        context.memory.charge(pid, base + growth + context.memory.sharedBytes(of: pid))
        if context.memory.inUse > maxMemory || context.memory.openFiles > 256 {
            // Drop the charges of processes that have exited before judging.
            context.memory.forgetExited(live: ProcessTree.liveProcesses(under: context.initPID))
        }
        return context.memory.notePeak() > maxMemory ? .killSandbox(.memoryLimit) : .proceed
    }
}
