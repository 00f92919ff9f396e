#if canImport(Glibc)
import Glibc
#endif
import CSandlock
import Synchronization

/// The one event thread of the process (`sandlock-events`): an epoll loop over every
/// sandbox's descriptors (pidfd, captured output, stdin feed, seccomp listener, /dev/urandom
/// feeds) and their deadlines, plus an eventfd to wake it. Hundreds of sandboxes cost one
/// thread; nothing here blocks except `epoll_wait`.
///
/// Every registration is one-shot and re-armed by the loop after its handler ran, under a
/// token that is never reused. A token with no live registration is therefore reported at
/// most once and never re-armed: a registration that outlived its descriptor (epoll keys
/// interest by open file, which a just-cloned child may still hold) cannot make the loop
/// spin. A source's descriptor is owned by the source, and the loop unregisters it
/// (EPOLL_CTL_DEL) before it lets the source go, so no watched descriptor is closed first.
final class EventLoop: Sendable {
    static let shared = EventLoop()

    /// Name of the event thread, as /proc/<pid>/task/<tid>/comm shows it.
    static let threadName = "sandlock-events"

    /// What the loop does with a source after its handler ran.
    enum Next {
        case rearm
        case remove
    }

    private struct Timer {
        var due: Int64
        let source: any TimerSource
    }

    private struct State {
        var nextToken: UInt64 = 1
        var sources: [UInt64: any EventSource] = [:]
        var timers: [UInt64: Timer] = [:]
        /// Threads that have answered trapped syscalls: the event thread alone, by design.
        var supervisingThreads: Set<Int32> = []
    }

    private static let wakeToken: UInt64 = 0

    private let epoll: Epoll
    private let wakeEvent: EventFD
    private let state = Mutex(State())
    private let iterationCount = Atomic<Int>(0)
    /// The last thread recorded in `supervisingThreads`: most calls skip the lock.
    private let lastSupervisingThread = Atomic<Int32>(0)

    private init() {
        // A sandbox that exits before reading its stdin must not kill us with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        do {
            epoll = try Epoll()
            wakeEvent = try EventFD()
            try epoll.add(wakeEvent.descriptor, .readable, token: Self.wakeToken)
        } catch {
            preconditionFailure("epoll/eventfd unavailable: \(error)")
        }
        let started = NamedThread.start(Self.threadName) { [self] in run() }
        precondition(started, "cannot start the sandbox event thread")
    }

    // MARK: Registrations

    /// Watches `source` until its handler says `.remove` (or `remove` is called): the token
    /// to remove it by.
    @discardableResult
    func add(_ source: any EventSource) throws(Errno) -> UInt64 {
        let token = state.withLock { state in
            let token = state.nextToken
            state.nextToken += 1
            state.sources[token] = source
            return token
        }
        do {
            try epoll.add(source.descriptor.descriptor, source.interest.union(.oneShot), token: token)
        } catch {
            _ = state.withLock { $0.sources.removeValue(forKey: token) }
            throw error
        }
        return token
    }

    /// Stops watching: EPOLL_CTL_DEL first, then the loop lets the source (and with it,
    /// unless someone else holds it, its descriptor) go.
    func remove(_ token: UInt64) {
        guard let source = state.withLock({ $0.sources[token] }) else { return }
        epoll.remove(source.descriptor.descriptor)
        _ = state.withLock { $0.sources.removeValue(forKey: token) }
    }

    /// Calls `source.fire` at `due` (CLOCK_MONOTONIC nanoseconds), then at whatever it
    /// answers, until it answers nil or `cancel` is called.
    @discardableResult
    func schedule(_ source: any TimerSource, at due: Int64) -> UInt64 {
        let token = state.withLock { state in
            let token = state.nextToken
            state.nextToken += 1
            state.timers[token] = Timer(due: due, source: source)
            return token
        }
        wake()
        return token
    }

    func cancel(timer token: UInt64) {
        _ = state.withLock { $0.timers.removeValue(forKey: token) }
    }

    func wake() { wakeEvent.signal() }

    /// Records that the calling thread answered a trapped syscall.
    func noteSupervisingThread() {
        let tid = csl_gettid()
        guard lastSupervisingThread.exchange(tid, ordering: .relaxed) != tid else { return }
        state.withLock { _ = $0.supervisingThreads.insert(tid) }
    }

    /// The threads that have answered trapped syscalls so far.
    var supervisingThreads: Set<Int32> { state.withLock { $0.supervisingThreads } }

    /// How many times the loop has woken up (a debug counter: it must not grow while idle).
    var iterations: Int { iterationCount.load(ordering: .relaxed) }

    /// Live registrations and timers, for tests.
    var registrations: (sources: Int, timers: Int) { state.withLock { ($0.sources.count, $0.timers.count) } }

    // MARK: The loop

    private func run() {
        while true {
            iterationCount.add(1, ordering: .relaxed)
            for event in epoll.wait(timeout: millisecondsUntilNextTimer()) {
                if event.token == Self.wakeToken {
                    wakeEvent.drain()
                    continue
                }
                // Unknown: removed already. One-shot, so it is not reported again.
                guard let source = state.withLock({ $0.sources[event.token] }) else { continue }
                switch source.ready(event.events) {
                case .rearm:
                    do {
                        try epoll.modify(source.descriptor.descriptor, source.interest.union(.oneShot), token: event.token)
                    } catch {
                        remove(event.token)
                    }
                case .remove:
                    remove(event.token)
                }
            }
            fireDueTimers()
        }
    }

    private func millisecondsUntilNextTimer() -> Int32 {
        guard let next = state.withLock({ $0.timers.values.map(\.due).min() }) else { return -1 }
        let remaining = next - csl_monotonic_ns()
        return remaining <= 0 ? 0 : Int32(clamping: (remaining + 999_999) / 1_000_000)
    }

    private func fireDueTimers() {
        let now = csl_monotonic_ns()
        let due = state.withLock { state in state.timers.filter { $0.value.due <= now } }
        for (token, timer) in due {
            let next = timer.source.fire(now: now)
            state.withLock { state in
                // Cancelled meanwhile (the sandbox ended in its own handler): stays cancelled.
                guard state.timers[token] != nil else { return }
                if let next { state.timers[token]?.due = next } else { state.timers[token] = nil }
            }
        }
    }
}

/// A descriptor the loop watches and what to do when it is ready. Handlers run on the event
/// thread only.
protocol EventSource: AnyObject, Sendable {
    var descriptor: SharedDescriptor { get }
    var interest: Epoll.Events { get }
    func ready(_ events: Epoll.Events) -> EventLoop.Next
}

/// A deadline the loop keeps: `fire` runs on the event thread, and answers when to fire
/// next (nil: done).
protocol TimerSource: AnyObject, Sendable {
    func fire(now: Int64) -> Int64?
}
