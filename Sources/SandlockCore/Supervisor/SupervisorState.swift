#if canImport(Glibc)
import Glibc
#endif
import CSandlock
import CSeccomp

/// The supervisor's view of one sandbox: the handlers its policy needs, the state they share,
/// and the table from syscall number to the handlers that decide on it. Every decision is
/// made on values read once into our memory, and a call whose pointer arguments matter is
/// answered by us, never continued.
struct SupervisorState: Sendable {
    /// What to answer a trapped syscall.
    enum Verdict: Sendable {
        /// Let the kernel run the call as is (decisions on register arguments only).
        case proceed
        case fail(Int32)
        case value(Int64)
        /// Return the value once `work` (blocking: a registry write) is done, on the worker pool.
        case valueAfter(Int64, @Sendable () -> Void)
        /// Install this descriptor in the process as the call's result (ours closes after).
        case injectDescriptor(SharedDescriptor, cloexec: Bool)
        /// A network call to make on behalf of the process, on the worker pool.
        case onBehalf(OnBehalf)
        /// A file to open on behalf of the process, on the worker pool (it may block): the
        /// descriptor is installed in the process, or the errno answered.
        case openOnBehalf(@Sendable () -> Result<SharedDescriptor, Errno>, cloexec: Bool)
        /// A call made on behalf of the process on the worker pool (it may block): `work` gets
        /// the notification's re-validation and returns the value and errno to answer. With
        /// the sandbox's share of the pool full it runs on the event thread, as before the pool.
        case answerOnBehalf(@Sendable (_ stillPending: () -> Bool) -> (value: Int64, error: Int32))
        /// A deterministic /dev/urandom: install `read` in the process as the result of its
        /// open; the event loop keeps `write` filled with the stream of `seed`, holding
        /// `ticket` (the sandbox's feed count) until the feed ends.
        case randomStream(read: SharedDescriptor, write: SharedDescriptor, seed: UInt64, ticket: RandomFeedTicket, cloexec: Bool)
        /// The sandbox broke a limit: kill it and answer nothing.
        case killSandbox(RunResult.Reason)
    }

    private(set) var context: SupervisorContext
    private var handlers: [any SupervisorHandler]
    /// Syscall number → indices into `handlers`, in dispatch order.
    private let dispatch: [Int32: [Int]]

    init(policy: Policy, initPID: pid_t, network: NetworkAllowlist?, registration: NameRegistration? = nil) {
        context = SupervisorContext(policy: policy, initPID: initPID, network: network, registration: registration)
        handlers = SupervisorFeatures(policy).makeHandlers(policy: policy, initPID: initPID)
        var dispatch: [Int32: [Int]] = [:]
        for (index, handler) in handlers.enumerated() {
            for name in type(of: handler).handledSyscalls {
                let number = seccomp_syscall_resolve_name(name)
                if number >= 0 { dispatch[number, default: []].append(index) }
            }
        }
        self.dispatch = dispatch
    }

    var notifications: Int { context.notifications }
    var peakProcesses: Int { context.peakProcesses }
    var peakMemory: UInt64 { context.memory.peak }
    var maxProcesses: Int? { context.maxProcesses }
    /// max_processes is counted here (the trap), not by the kernel.
    var countsProcesses: Bool { handlers.contains { $0 is ProcessLimitHandler } }
    var maxMemory: UInt64? { context.maxMemory }
    var deniedConnections: [String: Int] { context.deniedConnections }

    /// `stillPending` re-validates the notification (NOTIF_ID_VALID) after reading the
    /// process's memory and before writing to it: the pid could otherwise have been reused.
    mutating func decide(_ notification: csl_notification, stillPending: () -> Bool) -> Verdict {
        context.notifications += 1
        return withoutActuallyEscaping(stillPending) { stillPending in
            var call = TrappedCall(notification, stillPending: stillPending)
            for index in dispatch[call.nr] ?? [] {
                if let verdict = handlers[index].handle(&call, &context) { return verdict }
            }
            return .proceed
        }
    }

    /// The periodic check (every 100 ms while `max_memory` is set): re-reads every live
    /// process, catching growth through calls too small to trap and shared memory.
    mutating func pollMemory() -> Verdict {
        guard let maxMemory = context.maxMemory else { return .proceed }
        let live = ProcessTree.liveProcesses(under: context.initPID)
        context.memory.forgetExited(live: live)
        context.memory.measure(live)
        return context.memory.notePeak() > maxMemory ? .killSandbox(.memoryLimit) : .proceed
    }

    /// Releases what the state holds open; the sandbox is over.
    mutating func close() {
        context.memory.close()
        context.directories.close()
    }
}
