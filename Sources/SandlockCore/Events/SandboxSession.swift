#if canImport(Glibc)
import Glibc
#endif
import CSandlock
import Synchronization

/// One running sandbox as the event loop sees it: its sources (init's pidfd, captured
/// output, stdin feed, the supervisor's listener and feeds) and deadlines, how it is ending,
/// and who waits for it. Handlers call in on the event thread; `kill` and the waits come
/// from anywhere.
final class SandboxSession: Sendable {
    /// What a finished sandbox leaves behind.
    struct Outcome: Sendable {
        var report: csl_init_report?
        var timedOut: Bool
        var killRequested: Bool
        var wallNanoseconds: Int64
        var stdout: [UInt8]
        var stderr: [UInt8]
        /// Set when the supervisor killed the sandbox for a limit.
        var limitReason: RunResult.Reason?
        var peakProcesses: Int?
        var peakSandboxMemory: UInt64?
        var notifications: Int
        var deniedConnections: [String: Int]
    }

    private struct State {
        var exited = false
        var timedOut = false
        var killRequested = false
        var limitReason: RunResult.Reason?
        /// Registered sources other than init's pidfd, removed when init exits.
        var captures: [(token: UInt64, capture: OutputCapture)] = []
        var sources: [UInt64] = []
        var timers: [UInt64] = []
    }

    let startNanoseconds: Int64
    let supervisor: Supervisor?
    let completion = Completion<Outcome>()
    /// The write end of init's control pipe: a byte (or EOF) kills the whole tree.
    private let control: SharedDescriptor
    private let state = Mutex(State())
    private let loop: EventLoop
    /// The sandbox's pids cgroup (max_processes), removed once init is reaped.
    private let pidsCgroup: PidsCgroup?

    init(control: SharedDescriptor, supervisor: Supervisor?, startNanoseconds: Int64, pidsCgroup: PidsCgroup? = nil,
         loop: EventLoop = .shared) {
        self.control = control
        self.pidsCgroup = pidsCgroup
        self.supervisor = supervisor
        self.startNanoseconds = startNanoseconds
        self.loop = loop
    }

    // MARK: Registration (from the spawner)

    func watch(_ capture: OutputCapture) throws(Errno) {
        let token = try loop.add(capture)
        state.withLock { $0.captures.append((token, capture)) }
    }

    /// Watches a source that ends with the sandbox (stdin feed, listener, random feed).
    func watch(_ source: any EventSource) throws(Errno) {
        let token = try loop.add(source)
        let late = state.withLock { state in
            if !state.exited { state.sources.append(token) }
            return state.exited
        }
        if late { loop.remove(token) }
    }

    func schedule(_ timer: any TimerSource, at due: Int64) {
        let token = loop.schedule(timer, at: due)
        state.withLock { $0.timers.append(token) }
    }

    /// Watches init's pidfd: last, once every other source is registered, so its exit
    /// handler sees them all.
    func watchExit(pidfd: SharedDescriptor, status: SharedDescriptor) throws(Errno) {
        try loop.add(ProcessExit(pidfd: pidfd, status: status, for: self))
    }

    // MARK: Ending

    /// Kills the sandbox's whole tree: init reads the byte and kills its domain. Idempotent.
    func kill() {
        let send = state.withLock { state -> Bool in
            guard !state.exited, !state.killRequested else { return false }
            state.killRequested = true
            return true
        }
        if send { control.descriptor.writeByte() }
    }

    func timeOut() {
        let send = state.withLock { state -> Bool in
            guard !state.exited, !state.timedOut else { return false }
            state.timedOut = true
            return true
        }
        if send { control.descriptor.writeByte() }
    }

    /// The supervisor caught the sandbox breaking a limit.
    func limitExceeded(_ reason: RunResult.Reason, unlessTimedOut: Bool = true) {
        let send = state.withLock { state -> Bool in
            guard state.limitReason == nil, !(unlessTimedOut && state.timedOut) else { return false }
            state.limitReason = reason
            return true
        }
        if send { control.descriptor.writeByte() }
    }

    /// The periodic memory check; false once the sandbox has exited.
    func pollMemory() -> Bool {
        guard !state.withLock({ $0.exited }), let supervisor else { return false }
        if case .killSandbox(let reason) = supervisor.pollMemory() { limitExceeded(reason, unlessTimedOut: false) }
        return true
    }

    /// init has exited, and every process of the tree with it: what is left in the output
    /// pipes is all there is (a writer that escaped a degraded sandbox is not waited for).
    func exited(report: csl_init_report?) {
        let exitNanoseconds = csl_monotonic_ns()
        let finished = state.withLock { state -> State in
            state.exited = true
            return state
        }
        for token in finished.timers { loop.cancel(timer: token) }
        for token in finished.sources { loop.remove(token) }
        for (token, capture) in finished.captures {
            capture.drain()
            loop.remove(token)
        }
        let statistics = supervisor?.finish()
        // init's own task is one of the cgroup's; the tree is gone, so the cgroup is empty.
        let peakTasks = pidsCgroup?.peakTasks.map { max(0, $0 - 1) }
        pidsCgroup?.remove()
        func collected(_ stream: OutputCapture.Stream) -> [UInt8] {
            finished.captures.first { $0.capture.stream == stream }?.capture.collected ?? []
        }
        completion.complete(Outcome(
            report: report, timedOut: finished.timedOut, killRequested: finished.killRequested,
            wallNanoseconds: exitNanoseconds - startNanoseconds,
            stdout: collected(.stdout), stderr: collected(.stderr), limitReason: finished.limitReason,
            peakProcesses: peakTasks ?? statistics?.peakProcesses, peakSandboxMemory: statistics?.peakMemory,
            notifications: statistics?.notifications ?? 0, deniedConnections: statistics?.deniedConnections ?? [:]))
    }
}
