#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A few named threads (`sandlock-work`) for work that may block and must not run on the
/// event thread: connects on behalf of a sandbox, registry writes. The queue is bounded:
/// when it is full, `submit` says so and the caller answers a clear failure (EAGAIN to the
/// sandbox) instead of starting another thread. Threads start on first use.
final class WorkerPool: Sendable {
    static let shared = WorkerPool(threads: 3, capacity: 64)

    static let threadName = "sandlock-work"

    typealias Job = @Sendable () -> Void

    private struct State {
        var queue: [Job] = []
        var started = false
    }

    let threadCount: Int
    let capacity: Int
    private let state = Mutex(State())
    /// One byte per queued job: idle workers block reading it.
    private let tickets: KernelPipe

    init(threads: Int, capacity: Int) {
        threadCount = threads
        self.capacity = capacity
        do { tickets = try KernelPipe() } catch { preconditionFailure("pipe2 failed: \(error)") }
    }

    /// Queues `job`; false when the queue is full (or no worker could be started).
    func submit(_ job: @escaping Job) -> Bool {
        let (accepted, start) = state.withLock { state -> (Bool, Bool) in
            guard state.queue.count < capacity else { return (false, false) }
            state.queue.append(job)
            defer { state.started = true }
            return (true, !state.started)
        }
        guard accepted else { return false }
        if start {
            for _ in 0..<threadCount { NamedThread.start(Self.threadName) { [self] in work() } }
        }
        tickets.write.writeByte()
        return true
    }

    /// Jobs queued and not yet taken, for tests.
    var pending: Int { state.withLock { $0.queue.count } }

    private func work() {
        var byte: UInt8 = 0
        while true {
            guard (try? withUnsafeMutableBytes(of: &byte, { try tickets.read.read(into: $0) })) == 1 else { continue }
            let job = state.withLock { state -> Job? in state.queue.isEmpty ? nil : state.queue.removeFirst() }
            job?()
        }
    }
}
