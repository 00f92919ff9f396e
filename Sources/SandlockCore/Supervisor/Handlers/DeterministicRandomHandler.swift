#if canImport(Glibc)
import Glibc
#endif

/// `random_seed`: getrandom answered from the seeded stream, and opens of /dev/urandom and
/// /dev/random served by a pipe the event loop keeps full (`RandomFeed`), one stream per open;
/// at most `Supervisor.randomFeedLimit` open at once (EMFILE beyond).
struct DeterministicRandomHandler: SupervisorHandler {
    static func isNeeded(by policy: Policy) -> Bool { policy.randomSeed != nil }
    static let policyField: String? = "random_seed"
    static let trappedSyscalls = ["getrandom", "openat", "open"]

    private let seed: UInt64
    private var random: DeterministicRandom
    /// /dev/urandom opens so far: each gets its own stream.
    private var streamsOpened: UInt64 = 0
    /// Feeds open now, at most `Supervisor.randomFeedLimit`.
    private let feeds = RandomFeedBudget(limit: Supervisor.randomFeedLimit)

    init(policy: Policy, initPID: pid_t) {
        seed = policy.randomSeed ?? 0
        random = DeterministicRandom(seed: seed)
    }

    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        if call.nr == Syscall.getrandom {
            let count = Int(min(call.args[1], 1 << 20))
            let bytes = random.bytes(count)
            guard call.stillPending() else { return .fail(EINTR) }
            return ChildMemory.write(call.pid, call.args[0], bytes) ? .value(Int64(count)) : .fail(EFAULT)
        }
        guard let path = call.openPath(), path == "/dev/urandom" || path == "/dev/random" else { return nil }
        // Bounded per sandbox: each open feed is a pipe the supervising process keeps.
        guard let ticket = feeds.take(), let pipe = try? KernelPipe() else { return .fail(EMFILE) }
        streamsOpened += 1
        return .randomStream(read: SharedDescriptor(pipe.read), write: SharedDescriptor(pipe.write),
                             seed: seed ^ (streamsOpened &* 0x9E37_79B9_7F4A_7C15), ticket: ticket, cloexec: call.openCloexec)
    }
}
