#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// A supervised sandbox's seccomp listener on the event loop: each readable event is one
/// trapped syscall to receive, hand to the sandbox's `Supervisor`, and answer. Blocking work
/// (connects and file opens on behalf) goes to the worker pool, which answers on the same
/// listener: the pool holds the listener (shared) until it has answered. Nothing here may
/// wait: this thread also fires every sandbox's timeout.
final class SupervisorListener: EventSource {
    let descriptor: SharedDescriptor
    var interest: Epoll.Events { .readable }
    private let supervisor: Supervisor
    private let session: SandboxSession
    private let loop: EventLoop
    private let workers: WorkerPool

    init(_ listener: SharedDescriptor, supervisor: Supervisor, session: SandboxSession,
         loop: EventLoop = .shared, workers: WorkerPool = .shared) {
        descriptor = listener
        self.supervisor = supervisor
        self.session = session
        self.loop = loop
        self.workers = workers
    }

    func ready(_ events: Epoll.Events) -> EventLoop.Next {
        // EPOLLHUP alone: every process under the filter is gone.
        guard events.contains(.readable) else { return .remove }
        let listener = descriptor.rawValue
        var call = csl_notification()
        // ENOENT: the caller was killed meanwhile; nothing to answer.
        guard csl_notif_receive(listener, &call) == 0 else { return .rearm }
        loop.noteSupervisingThread()
        let verdict = supervisor.decide(call) { csl_notif_id_valid(listener, call.id) == 0 }
        answer(call.id, verdict)
        return .rearm
    }

    private func answer(_ id: UInt64, _ verdict: SupervisorState.Verdict) {
        let listener = descriptor.rawValue
        switch verdict {
        case .proceed:
            _ = csl_notif_respond(listener, id, 0, 0, 1)
        case .fail(let error):
            _ = csl_notif_respond(listener, id, 0, error, 0)
        case .value(let value):
            _ = csl_notif_respond(listener, id, value, 0, 0)
        case let .valueAfter(value, work):
            let shared = descriptor
            let accepted = workers.submit(owner: shared) {
                work()
                _ = csl_notif_respond(shared.rawValue, id, value, 0, 0)
            }
            // Full: the call is done already (a bind on behalf), so the work runs here.
            if !accepted {
                work()
                _ = csl_notif_respond(listener, id, value, 0, 0)
            }
        case let .injectDescriptor(fd, cloexec):
            _ = csl_notif_add_fd_and_respond(listener, id, fd.rawValue, cloexec ? 1 : 0)
        case let .openOnBehalf(open, cloexec):
            let shared = descriptor
            let accepted = workers.submit(owner: shared) {
                switch open() {
                case .success(let fd): _ = csl_notif_add_fd_and_respond(shared.rawValue, id, fd.rawValue, cloexec ? 1 : 0)
                case .failure(let error): _ = csl_notif_respond(shared.rawValue, id, 0, error.rawValue, 0)
                }
            }
            // Full: a clear, retryable failure rather than another thread (or a wait here).
            if !accepted { _ = csl_notif_respond(listener, id, 0, EAGAIN, 0) }
        case let .randomStream(read, write, seed, ticket, cloexec):
            // Watched before the process can read, so its first read finds bytes or waits.
            guard let feed = try? RandomFeed(seed: seed, writing: write, ticket: ticket), (try? session.watch(feed)) != nil else {
                _ = csl_notif_respond(listener, id, 0, EMFILE, 0)
                return
            }
            _ = csl_notif_add_fd_and_respond(listener, id, read.rawValue, cloexec ? 1 : 0)
        case .onBehalf(let work):
            let shared = descriptor
            let accepted = workers.submit(owner: shared) {
                let (value, error) = work.perform()
                _ = csl_notif_respond(shared.rawValue, id, value, error, 0)
            }
            // Full: a clear, retryable failure rather than another thread.
            if !accepted { _ = csl_notif_respond(listener, id, 0, EAGAIN, 0) }
        case .answerOnBehalf(let work):
            let shared = descriptor
            let respond: @Sendable () -> Void = {
                let (value, error) = work { csl_notif_id_valid(shared.rawValue, id) == 0 }
                _ = csl_notif_respond(shared.rawValue, id, value, error, 0)
            }
            // Full: answered here rather than failing a chmod with an errno it never returns.
            if !workers.submit(owner: shared, respond) { respond() }
        case .killSandbox(let reason):
            session.limitExceeded(reason)
        }
    }
}
