import Synchronization

/// Everyone waiting for one sandbox to finish: async tasks (continuations) and threads
/// blocked on a pipe. The outcome is kept once set, so a late waiter gets it at once.
final class Completion<Outcome: Sendable>: Sendable {
    private enum Waiter {
        case task(CheckedContinuation<Outcome, Never>)
        /// The write end of the pipe a blocked thread reads.
        case thread(SharedDescriptor)
    }

    private struct State {
        var outcome: Outcome?
        var waiters: [Waiter] = []
    }

    private let state = Mutex(State())

    var outcome: Outcome? { state.withLock { $0.outcome } }

    /// Sets the outcome (the first one wins) and wakes every waiter, outside the lock.
    func complete(_ outcome: Outcome) {
        let waiters = state.withLock { state -> [Waiter] in
            guard state.outcome == nil else { return [] }
            state.outcome = outcome
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters {
            switch waiter {
            case .task(let continuation): continuation.resume(returning: outcome)
            case .thread(let wake): wake.descriptor.writeByte()
            }
        }
    }

    func wait() async -> Outcome {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Outcome? in
                if let outcome = state.outcome { return outcome }
                state.waiters.append(.task(continuation))
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Blocks the calling thread (a read on a CLOEXEC pipe) until the outcome is set: for
    /// synchronous callers, which then need no concurrency runtime threads at all.
    @available(*, noasync)
    func waitBlocking() -> Outcome {
        if let outcome { return outcome }
        let pipe: KernelPipe
        do { pipe = try KernelPipe() } catch { preconditionFailure("pipe2 failed: \(error)") }
        let reader = pipe.read
        let writer = SharedDescriptor(pipe.write)
        let done = state.withLock { state -> Outcome? in
            if let outcome = state.outcome { return outcome }
            state.waiters.append(.thread(writer))
            return nil
        }
        if let done { return done }
        var byte: UInt8 = 0
        _ = withUnsafeMutableBytes(of: &byte) { try? reader.read(into: $0) }
        return state.withLock { $0.outcome! }
    }
}
