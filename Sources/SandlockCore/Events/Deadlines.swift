/// A sandbox's `timeout`: when it passes, the whole tree is killed and the result says so.
final class TimeoutDeadline: TimerSource {
    private let session: SandboxSession

    init(_ session: SandboxSession) { self.session = session }

    func fire(now: Int64) -> Int64? {
        session.timeOut()
        return nil
    }
}

/// `max_memory`'s periodic check (every 100 ms): re-reads every live process of the
/// sandbox, catching growth through calls too small to trap.
final class MemoryPoll: TimerSource {
    static let interval: Int64 = 100_000_000
    private let session: SandboxSession

    init(_ session: SandboxSession) { self.session = session }

    func fire(now: Int64) -> Int64? {
        guard session.pollMemory() else { return nil }
        return now + Self.interval
    }
}
