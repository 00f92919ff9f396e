#if canImport(Glibc)
import Glibc
#endif
import CSandlock
import Synchronization

/// The one event thread of the process: an epoll loop over every sandbox's pidfd, its
/// captured output pipes and stdin feed, its seccomp listener (the supervisor) and its
/// /dev/urandom feeds, plus an eventfd to wake it. Hundreds of sandboxes cost one thread.
/// Deadlines (timeouts) are the epoll timeout; nothing here blocks except `epoll_wait`.
final class ProcessMonitor: Sendable {
    static let shared = ProcessMonitor()

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

    /// Descriptors handed over by the spawner; the monitor owns and closes them.
    struct Registration: Sendable {
        var pidfd: Int32
        var statusFD: Int32
        var controlFD: Int32
        var stdoutFD: Int32?
        var stderrFD: Int32?
        var stdinFD: Int32?
        var stdinBytes: [UInt8]
        var deadline: Int64?
        var startNanoseconds: Int64
        /// The seccomp listener and the supervisor's state, for supervised sandboxes.
        var listenerFD: Int32?
        var supervisor: SupervisorState?
    }

    private enum Kind: UInt64 { case process = 0, stdout = 1, stderr = 2, stdin = 3, listener = 4 }
    /// Tokens of /dev/urandom feeds carry this bit and the feed's fd.
    private static let feedTokenBit: UInt64 = 1 << 62

    private struct Capture {
        var fd: Int32
        var buffer: [UInt8] = []
    }

    private struct Watched {
        var pidfd: Int32
        var statusFD: Int32
        var controlFD: Int32
        var captures: [Kind: Capture]
        var collected: [Kind: [UInt8]] = [:]
        var stdinFD: Int32?
        var stdinBytes: [UInt8]
        var stdinOffset = 0
        var deadline: Int64?
        var startNanoseconds: Int64
        var exitNanoseconds: Int64?
        var report: csl_init_report?
        var timedOut = false
        var killRequested = false
        var waiters: [Waiter] = []
        var listenerFD: Int32?
        var supervisor: SupervisorState?
        var limitReason: RunResult.Reason?
        var abandoned = false
        /// When the supervisor next re-reads the sandbox's memory (max_memory only).
        var nextMemoryPoll: Int64?

        var isFinished: Bool { exitNanoseconds != nil && captures.isEmpty && stdinFD == nil }
    }

    /// Someone waiting for a sandbox to finish: an async task, or a thread blocked on a pipe.
    private enum Waiter {
        case task(CheckedContinuation<Outcome, Never>)
        case thread(wakeFD: Int32)

        func resume(_ outcome: Outcome) {
            switch self {
            case .task(let continuation): continuation.resume(returning: outcome)
            case .thread(let fd):
                var byte: UInt8 = 1
                _ = Glibc.write(fd, &byte, 1)
            }
        }
    }

    private struct State {
        var nextID: UInt64 = 1
        var watched: [UInt64: Watched] = [:]
        var finished: [UInt64: Outcome] = [:]
        /// Which sandbox each /dev/urandom feed (by write fd) belongs to.
        var feedOwners: [Int32: UInt64] = [:]
        /// Threads that have answered trapped syscalls: the event thread alone, by design.
        var supervisingThreads: Set<Int32> = []
    }

    private let epollFD: Int32
    private let wakeFD: Int32
    private let state = Mutex(State())

    private init() {
        // A sandbox that exits before reading its stdin must not kill us with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        epollFD = csl_epoll_create()
        wakeFD = csl_eventfd()
        precondition(epollFD >= 0 && wakeFD >= 0, "epoll/eventfd unavailable: \(Errno.current)")
        _ = csl_epoll_ctl(epollFD, CSL_EPOLL_CTL_ADD, wakeFD, CSL_EPOLLIN, UInt64.max)
        let unmanaged = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { context in
            let monitor = Unmanaged<ProcessMonitor>.fromOpaque(context!).takeRetainedValue()
            monitor.loop()
            return nil
        }, unmanaged.toOpaque())
        precondition(rc == 0, "cannot start the sandbox monitor thread: \(Errno(rawValue: rc))")
        pthread_detach(thread)
    }

    // MARK: API for the spawner and process handles

    func register(_ registration: Registration) -> UInt64 {
        var captures: [Kind: Capture] = [:]
        if let fd = registration.stdoutFD { captures[.stdout] = Capture(fd: fd) }
        if let fd = registration.stderrFD { captures[.stderr] = Capture(fd: fd) }
        let id = state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.watched[id] = Watched(
                pidfd: registration.pidfd, statusFD: registration.statusFD,
                controlFD: registration.controlFD, captures: captures,
                stdinFD: registration.stdinFD, stdinBytes: registration.stdinBytes,
                deadline: registration.deadline, startNanoseconds: registration.startNanoseconds,
                listenerFD: registration.listenerFD, supervisor: registration.supervisor,
                nextMemoryPoll: registration.supervisor?.maxMemory != nil ? registration.startNanoseconds + Self.memoryPollInterval : nil)
            return id
        }
        // Registered in the table first, so the loop knows every token it can see. An exit is
        // reported once (one-shot): the loop reaps it then, and a registration that ever
        // outlived its entry could not make the loop spin.
        _ = csl_epoll_ctl(epollFD, CSL_EPOLL_CTL_ADD, registration.pidfd, CSL_EPOLLIN | CSL_EPOLLONESHOT, token(id, .process))
        for (kind, capture) in captures {
            _ = csl_set_nonblocking(capture.fd)
            _ = csl_epoll_ctl(epollFD, CSL_EPOLL_CTL_ADD, capture.fd, CSL_EPOLLIN, token(id, kind))
        }
        if let fd = registration.stdinFD {
            _ = csl_set_nonblocking(fd)
            _ = csl_epoll_ctl(epollFD, CSL_EPOLL_CTL_ADD, fd, CSL_EPOLLOUT, token(id, .stdin))
        }
        if let fd = registration.listenerFD {
            _ = csl_epoll_ctl(epollFD, CSL_EPOLL_CTL_ADD, fd, CSL_EPOLLIN, token(id, .listener))
        }
        if registration.deadline != nil || registration.supervisor?.maxMemory != nil { wake() }
        return id
    }

    /// Kills the sandbox's whole tree: init reads the byte and kills its domain.
    func kill(_ id: UInt64) {
        state.withLock { state in
            guard var watched = state.watched[id], watched.exitNanoseconds == nil, !watched.killRequested else { return }
            watched.killRequested = true
            state.watched[id] = watched
            Self.requestKill(watched.controlFD)
        }
    }

    func wait(_ id: UInt64) async -> Outcome {
        await withCheckedContinuation { continuation in
            if let finished = addWaiter(.task(continuation), for: id) { continuation.resume(returning: finished) }
        }
    }

    /// Blocks the calling thread until the sandbox ends: for synchronous callers (the CLI),
    /// which then need no concurrency runtime threads at all.
    @available(*, noasync)
    func waitBlocking(_ id: UInt64) -> Outcome {
        var fds: [Int32] = [-1, -1]
        let rc = fds.withUnsafeMutableBufferPointer { csl_pipe_cloexec($0.baseAddress) }
        precondition(rc == 0, "pipe2 failed: \(Errno.current)")
        defer { Glibc.close(fds[0]); Glibc.close(fds[1]) }
        if let finished = addWaiter(.thread(wakeFD: fds[1]), for: id) { return finished }
        var byte: UInt8 = 0
        while Glibc.read(fds[0], &byte, 1) < 0 && errno == EINTR {}
        return state.withLock { $0.finished[id]! }
    }

    /// Registers a waiter, or returns the outcome if the sandbox already finished.
    private func addWaiter(_ waiter: Waiter, for id: UInt64) -> Outcome? {
        state.withLock { state in
            if let outcome = state.finished[id] { return outcome }
            state.watched[id]?.waiters.append(waiter)
            return nil
        }
    }

    /// Nobody will wait for this sandbox (its start failed): drop its outcome when it ends.
    func abandon(_ id: UInt64) {
        state.withLock { state in
            if state.finished.removeValue(forKey: id) == nil { state.watched[id]?.abandoned = true }
        }
    }

    /// Drops a finished sandbox's outcome once its handle is gone.
    func forget(_ id: UInt64) {
        state.withLock { _ = $0.finished.removeValue(forKey: id) }
    }


    // MARK: The loop

    private func token(_ id: UInt64, _ kind: Kind) -> UInt64 { id << 3 | kind.rawValue }

    private func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    private static func requestKill(_ controlFD: Int32) {
        var byte: UInt8 = 1
        _ = Glibc.write(controlFD, &byte, 1)
    }

    /// The threads that have answered trapped syscalls so far.
    var supervisingThreads: Set<Int32> { state.withLock { $0.supervisingThreads } }

    /// Name of the event thread, as /proc/<pid>/task/<tid>/comm shows it.
    static let threadName = "sandlock-events"

    private func loop() {
        _ = csl_set_thread_name(Self.threadName)
        var tokens = [UInt64](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        while true {
            let timeout = state.withLock { Self.millisecondsUntilNextDeadline($0) }
            let count = tokens.withUnsafeMutableBufferPointer { tokenBuffer in
                events.withUnsafeMutableBufferPointer { eventBuffer in
                    csl_epoll_wait(epollFD, tokenBuffer.baseAddress, eventBuffer.baseAddress, 64, timeout)
                }
            }
            var completions: [([Waiter], Outcome)] = []
            state.withLock { state in
                for index in 0..<max(0, Int(count)) {
                    let token = tokens[index]
                    if token == UInt64.max {
                        var value: UInt64 = 0
                        _ = Glibc.read(wakeFD, &value, 8)
                        continue
                    }
                    if token & Self.feedTokenBit != 0 {
                        feedRandom(Int32(truncatingIfNeeded: token & 0xffff_ffff), &state)
                        continue
                    }
                    let id = token >> 3
                    guard var watched = state.watched[id], let kind = Kind(rawValue: token & 7) else { continue }
                    switch kind {
                    case .process: reapInit(&watched, &state)
                    case .stdout, .stderr: drain(&watched, kind, untilEOF: false)
                    case .stdin: feed(&watched)
                    case .listener: supervise(&watched, id: id, events: events[index], &state)
                    }
                    state.watched[id] = watched
                }
                enforceDeadlines(&state)
                for (id, watched) in state.watched where watched.isFinished {
                    let outcome = Outcome(
                        report: watched.report, timedOut: watched.timedOut,
                        killRequested: watched.killRequested,
                        wallNanoseconds: watched.exitNanoseconds! - watched.startNanoseconds,
                        stdout: watched.collected[.stdout] ?? [], stderr: watched.collected[.stderr] ?? [],
                        limitReason: watched.limitReason,
                        peakProcesses: watched.supervisor?.maxProcesses != nil ? watched.supervisor?.peakProcesses : nil,
                        peakSandboxMemory: watched.supervisor?.maxMemory != nil ? watched.supervisor?.peakMemory : nil,
                        notifications: watched.supervisor?.notifications ?? 0,
                        deniedConnections: watched.supervisor?.deniedConnections ?? [:])
                    state.watched[id] = nil
                    if !watched.abandoned { state.finished[id] = outcome }
                    completions.append((watched.waiters, outcome))
                }
            }
            for (waiters, outcome) in completions {
                for waiter in waiters { waiter.resume(outcome) }
            }
        }
    }

    private static let memoryPollInterval: Int64 = 100_000_000

    private static func millisecondsUntilNextDeadline(_ state: State) -> Int32 {
        let deadlines = state.watched.values.flatMap { watched -> [Int64] in
            guard !watched.timedOut, watched.exitNanoseconds == nil else { return [] }
            return [watched.deadline, watched.nextMemoryPoll].compactMap { $0 }
        }
        guard let next = deadlines.min() else { return -1 }
        let remaining = next - csl_monotonic_ns()
        return remaining <= 0 ? 0 : Int32(clamping: (remaining + 999_999) / 1_000_000)
    }

    private func enforceDeadlines(_ state: inout State) {
        let now = csl_monotonic_ns()
        for (id, var watched) in state.watched {
            if let poll = watched.nextMemoryPoll, poll <= now, watched.exitNanoseconds == nil, var supervisor = watched.supervisor {
                if case .killSandbox(let reason) = supervisor.pollMemory(), watched.limitReason == nil {
                    watched.limitReason = reason
                    Self.requestKill(watched.controlFD)
                }
                watched.supervisor = supervisor
                watched.nextMemoryPoll = now + Self.memoryPollInterval
                state.watched[id] = watched
            }
            guard let deadline = watched.deadline, deadline <= now, !watched.timedOut,
                  watched.exitNanoseconds == nil else { continue }
            watched.timedOut = true
            Self.requestKill(watched.controlFD)
            state.watched[id] = watched
        }
    }

    /// init has exited: it wrote its report before, and every process of the tree is gone.
    private func reapInit(_ watched: inout Watched, _ state: inout State) {
        guard watched.exitNanoseconds == nil else { return }
        var report = csl_init_report()
        let size = MemoryLayout<csl_init_report>.size
        let got = withUnsafeMutableBytes(of: &report) { Glibc.read(watched.statusFD, $0.baseAddress, size) }
        watched.report = got == size ? report : nil
        var code: Int32 = 0, status: Int32 = 0
        _ = csl_pidfd_wait(watched.pidfd, 0, &code, &status)
        watched.exitNanoseconds = csl_monotonic_ns()
        _ = csl_epoll_ctl(epollFD, CSL_EPOLL_CTL_DEL, watched.pidfd, 0, 0)
        Glibc.close(watched.pidfd)
        Glibc.close(watched.statusFD)
        Glibc.close(watched.controlFD)
        if let listener = watched.listenerFD { closeListener(&watched, listener) }
        watched.supervisor?.close()
        for fd in watched.supervisor?.openRandomFeeds ?? [] { closeFeed(fd, &watched, &state) }
        // Every writer is dead, so what is left in the pipes is all there is.
        for kind in Array(watched.captures.keys) { drain(&watched, kind, untilEOF: true) }
        if let fd = watched.stdinFD { closeStdin(&watched, fd) }
    }

    private func drain(_ watched: inout Watched, _ kind: Kind, untilEOF: Bool) {
        guard var capture = watched.captures[kind] else { return }
        var chunk = [UInt8](repeating: 0, count: 65536)
        var closed = false
        while true {
            let got = chunk.withUnsafeMutableBytes { Glibc.read(capture.fd, $0.baseAddress, 65536) }
            if got > 0 {
                capture.buffer.append(contentsOf: chunk[0..<got])
                continue
            }
            if got < 0 && errno == EINTR { continue }
            // EOF, or (after init's exit) a writer that escaped a degraded sandbox: stop here.
            closed = got == 0 || untilEOF
            break
        }
        if closed {
            _ = csl_epoll_ctl(epollFD, CSL_EPOLL_CTL_DEL, capture.fd, 0, 0)
            Glibc.close(capture.fd)
            watched.captures[kind] = nil
            watched.collected[kind] = capture.buffer
        } else {
            watched.captures[kind] = capture
        }
    }

    private func feed(_ watched: inout Watched) {
        guard let fd = watched.stdinFD else { return }
        while watched.stdinOffset < watched.stdinBytes.count {
            let written = watched.stdinBytes.withUnsafeBytes {
                Glibc.write(fd, $0.baseAddress! + watched.stdinOffset, $0.count - watched.stdinOffset)
            }
            if written > 0 {
                watched.stdinOffset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else if written < 0 && errno == EAGAIN {
                return
            } else {
                break // EPIPE: the command stopped reading
            }
        }
        closeStdin(&watched, fd)
    }

    private func closeStdin(_ watched: inout Watched, _ fd: Int32) {
        _ = csl_epoll_ctl(epollFD, CSL_EPOLL_CTL_DEL, fd, 0, 0)
        Glibc.close(fd)
        watched.stdinFD = nil
        watched.stdinBytes = []
    }
}

// MARK: The supervisor

extension ProcessMonitor {
    /// One trapped syscall: receive it, let the sandbox's `SupervisorState` decide, answer.
    private func supervise(_ watched: inout Watched, id: UInt64, events: UInt32, _ state: inout State) {
        guard let listener = watched.listenerFD else { return }
        if events & CSL_EPOLLIN == 0 {
            // EPOLLHUP: every process under the filter is gone.
            closeListener(&watched, listener)
            return
        }
        var call = csl_notification()
        guard csl_notif_receive(listener, &call) == 0, var supervisor = watched.supervisor else { return }
        state.supervisingThreads.insert(csl_gettid())
        let verdict = supervisor.decide(call) { csl_notif_id_valid(listener, call.id) == 0 }
        switch verdict {
        case .proceed:
            _ = csl_notif_respond(listener, call.id, 0, 0, 1)
        case .fail(let error):
            _ = csl_notif_respond(listener, call.id, 0, error, 0)
        case .value(let value):
            _ = csl_notif_respond(listener, call.id, value, 0, 0)
        case .onBehalf(let work):
            work.performAndRespond(listener: listener, id: call.id)
        case let .injectDescriptor(fd, cloexec):
            _ = csl_notif_add_fd_and_respond(listener, call.id, fd, cloexec ? 1 : 0)
            Glibc.close(fd)
        case let .randomStream(read, write, cloexec):
            if csl_notif_add_fd_and_respond(listener, call.id, read, cloexec ? 1 : 0) >= 0 {
                state.feedOwners[write] = id
                _ = csl_epoll_ctl(epollFD, CSL_EPOLL_CTL_ADD, write, CSL_EPOLLOUT, Self.feedTokenBit | UInt64(UInt32(bitPattern: write)))
            } else {
                supervisor.closeRandomFeed(write)
                Glibc.close(write)
            }
            Glibc.close(read)
        case .killSandbox(let reason):
            if watched.limitReason == nil && !watched.timedOut {
                watched.limitReason = reason
                Self.requestKill(watched.controlFD)
            }
        }
        watched.supervisor = supervisor
    }

    private func closeListener(_ watched: inout Watched, _ listener: Int32) {
        _ = csl_epoll_ctl(epollFD, CSL_EPOLL_CTL_DEL, listener, 0, 0)
        Glibc.close(listener)
        watched.listenerFD = nil
    }

    /// Keeps a /dev/urandom pipe full with the sandbox's deterministic bytes.
    private func feedRandom(_ fd: Int32, _ state: inout State) {
        guard let id = state.feedOwners[fd], var watched = state.watched[id] else { return }
        while true {
            let chunk = watched.supervisor?.randomFeedChunk(fd) ?? []
            let written = chunk.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written > 0 {
                watched.supervisor?.randomFeedWrote(fd, count: written)
                continue
            }
            if written < 0 && errno == EINTR { continue }
            if written < 0 && errno == EAGAIN { break }
            closeFeed(fd, &watched, &state) // EPIPE: the reader closed it
            break
        }
        state.watched[id] = watched
    }

    private func closeFeed(_ fd: Int32, _ watched: inout Watched, _ state: inout State) {
        _ = csl_epoll_ctl(epollFD, CSL_EPOLL_CTL_DEL, fd, 0, 0)
        Glibc.close(fd)
        watched.supervisor?.closeRandomFeed(fd)
        state.feedOwners[fd] = nil
    }
}
