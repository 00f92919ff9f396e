#if canImport(Glibc)
import Glibc
#endif
import CSandlock
import Synchronization

/// One sandbox's supervisor: its `SupervisorState` behind its own lock (never a lock shared
/// by all sandboxes), driven by the listener source on the event thread.
final class Supervisor: Sendable {
    /// What the result reports of the supervisor's work.
    struct Statistics: Sendable {
        var peakProcesses: Int?
        var peakMemory: UInt64?
        var notifications: Int
        var deniedConnections: [String: Int]
    }

    /// /dev/urandom feeds (`random_seed`) one sandbox may hold open at once: each is a pipe
    /// whose write end the supervising process keeps, shared by every sandbox it runs.
    static let randomFeedLimit = 64

    private let state: Mutex<SupervisorState>

    init(_ state: consuming SupervisorState) {
        self.state = Mutex(state)
    }

    func decide(_ call: csl_notification, stillPending: () -> Bool) -> SupervisorState.Verdict {
        state.withLock { $0.decide(call, stillPending: stillPending) }
    }

    func pollMemory() -> SupervisorState.Verdict {
        state.withLock { $0.pollMemory() }
    }

    /// The sandbox is over: releases what the state holds open and reports its counters.
    func finish() -> Statistics {
        state.withLock { state in
            state.close()
            return Statistics(
                peakProcesses: state.countsProcesses ? state.peakProcesses : nil,
                peakMemory: state.maxMemory != nil ? state.peakMemory : nil,
                notifications: state.notifications, deniedConnections: state.deniedConnections)
        }
    }
}
