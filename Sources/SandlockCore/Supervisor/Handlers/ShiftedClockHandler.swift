#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// `time_start`: the wall clocks read through clock_gettime, gettimeofday and time are
/// shifted; a new image (execve) gets its vDSO patched at its first brk/arch_prctl (or a
/// trapped mmap), so its vDSO calls trap too. Without the patch the host time would leak:
/// the sandbox is killed.
struct ShiftedClockHandler: SupervisorHandler {
    static func isNeeded(by policy: Policy) -> Bool { policy.timeStart != nil }
    static let policyField: String? = "time_start"
    static let trappedSyscalls = ["clock_gettime", "gettimeofday", "time", "execve", "execveat", "brk", "arch_prctl"]
    static let handledSyscalls = trappedSyscalls + ["mmap", "mremap"]

    /// Nanoseconds added to wall clock readings.
    private let shift: Int64
    /// Processes that exec'd and still run an unpatched vDSO.
    private var freshImages: Set<pid_t> = []

    init(policy: Policy, initPID: pid_t) {
        var seconds: Int64 = 0, nanoseconds: Int64 = 0
        _ = csl_clock_gettime(CLOCK_REALTIME, &seconds, &nanoseconds)
        shift = ((policy.timeStart ?? seconds) - seconds) * 1_000_000_000 - nanoseconds
    }

    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        switch call.nr {
        case Syscall.execve, Syscall.execveat:
            freshImages.insert(call.pid)
            return .proceed
        case Syscall.brk, Syscall.archPrctl, Syscall.mmap, Syscall.mremap:
            if freshImages.remove(call.pid) != nil, !VDSOPatch.apply(to: call.pid) { return .killSandbox(.killed) }
            return nil // max_memory may still judge the allocation
        default:
            guard call.stillPending() else { return .fail(EINTR) }
            return readClock(call)
        }
    }

    private func readClock(_ call: TrappedCall) -> SupervisorState.Verdict {
        let (pid, nr, args) = (call.pid, call.nr, call.args)
        let clock = nr == Syscall.clockGettime ? Int32(truncatingIfNeeded: args[0]) : CLOCK_REALTIME
        // The wall clocks are shifted; the rest (monotonic, CPU time…) pass.
        guard clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI else { return .proceed }
        var seconds: Int64 = 0, nanoseconds: Int64 = 0
        guard csl_clock_gettime(clock, &seconds, &nanoseconds) == 0 else { return .fail(EINVAL) }
        let shifted = seconds * 1_000_000_000 + nanoseconds + shift
        let (wholeSeconds, remainder) = shifted.quotientAndRemainder(dividingBy: 1_000_000_000)
        switch nr {
        case Syscall.clockGettime:
            return ChildMemory.write(pid, args[1], value: (wholeSeconds, remainder)) ? .value(0) : .fail(EFAULT)
        case Syscall.gettimeofday:
            if args[0] != 0, !ChildMemory.write(pid, args[0], value: (wholeSeconds, remainder / 1000)) { return .fail(EFAULT) }
            if args[1] != 0, !ChildMemory.write(pid, args[1], value: (Int32(0), Int32(0))) { return .fail(EFAULT) }
            return .value(0)
        default: // time
            if args[0] != 0, !ChildMemory.write(pid, args[0], value: wholeSeconds) { return .fail(EFAULT) }
            return .value(wholeSeconds)
        }
    }
}
