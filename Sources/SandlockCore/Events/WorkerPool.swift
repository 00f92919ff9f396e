#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Named threads (`sandlock-work`) for work that may block and must not run on the event
/// thread: connects and opens on behalf of a sandbox, registry writes.
///
/// Everything is bounded, and one sandbox cannot starve the others: a job of an owner (a
/// sandbox's listener) counts against that owner's share (`perOwner` queued or running), a
/// thread is added whenever every thread is busy (up to `maxThreads`), and the queue holds
/// at most `capacity` jobs. Past any bound `submit` says no and the caller answers a clear,
/// retryable failure (EAGAIN to the sandbox). So a sandbox whose connects hang on a peer that
/// never answers ties up `perOwner` threads at most, never the pool. Threads start on use
/// and stay.
final class WorkerPool: Sendable {
    static let shared = WorkerPool(maxThreads: 32, perOwner: 4, capacity: 256)

    static let threadName = "sandlock-work"

    typealias Job = @Sendable () -> Void

    private struct Queued {
        let owner: ObjectIdentifier?
        let job: Job
    }

    private struct State {
        var queue: [Queued] = []
        var threads = 0
        /// Threads waiting for a ticket.
        var idle = 0
        /// Jobs queued or running, by owner.
        var shares: [ObjectIdentifier: Int] = [:]
    }

    let maxThreads: Int
    let perOwner: Int
    let capacity: Int
    private let state = Mutex(State())
    /// One byte per queued job: idle workers block reading it.
    private let tickets: KernelPipe

    init(maxThreads: Int, perOwner: Int, capacity: Int) {
        self.maxThreads = maxThreads
        self.perOwner = perOwner
        self.capacity = capacity
        do { tickets = try KernelPipe() } catch { preconditionFailure("pipe2 failed: \(error)") }
    }

    /// Queues `job` for `owner` (nil: no share, e.g. a registry write); false when the queue,
    /// the owner's share or the pool is full.
    func submit(owner: AnyObject? = nil, _ job: @escaping Job) -> Bool {
        let key = owner.map(ObjectIdentifier.init)
        let verdict = state.withLock { state -> (accepted: Bool, newThread: Bool) in
            guard state.queue.count < capacity else { return (false, false) }
            if let key {
                guard state.shares[key, default: 0] < perOwner else { return (false, false) }
                state.shares[key, default: 0] += 1
            }
            state.queue.append(Queued(owner: key, job: job))
            // Every thread busy: one more, so a job stuck in the kernel holds up nobody else.
            guard state.idle < state.queue.count, state.threads < maxThreads else { return (true, false) }
            state.threads += 1
            return (true, true)
        }
        guard verdict.accepted else { return false }
        if verdict.newThread, !NamedThread.start(Self.threadName, { [self] in work() }) {
            state.withLock { $0.threads -= 1 }
        }
        tickets.write.writeByte()
        return true
    }

    private func work() {
        var byte: UInt8 = 0
        while true {
            state.withLock { $0.idle += 1 }
            let got = (try? withUnsafeMutableBytes(of: &byte, { try tickets.read.read(into: $0) })) == 1
            let next = state.withLock { state -> Queued? in
                state.idle -= 1
                return got && !state.queue.isEmpty ? state.queue.removeFirst() : nil
            }
            guard let next else { continue }
            next.job()
            if let owner = next.owner {
                state.withLock { state in
                    let left = state.shares[owner, default: 1] - 1
                    state.shares[owner] = left > 0 ? left : nil
                }
            }
        }
    }
}
