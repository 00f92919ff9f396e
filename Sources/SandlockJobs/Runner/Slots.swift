import Synchronization

/// A counting semaphore for async code: at most `limit` holders (`--jobs`). Waiters are
/// served first come, first served; a cancelled waiter leaves the queue at once.
final class Slots: Sendable {
    private struct State {
        var free: Int
        var nextTicket: UInt64 = 0
        var waiters: [(ticket: UInt64, continuation: CheckedContinuation<Bool, Never>)] = []
    }

    private let state: Mutex<State>

    init(_ limit: Int) { state = Mutex(State(free: max(1, limit))) }

    /// Takes a slot; false when the task was cancelled first (then nothing is held).
    func acquire() async -> Bool {
        if state.withLock({ s in
            guard s.free > 0, s.waiters.isEmpty else { return false }
            s.free -= 1
            return true
        }) { return true }
        let ticket = state.withLock { s in
            s.nextTicket += 1
            return s.nextTicket
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let granted = state.withLock { s -> Bool? in
                    if Task.isCancelled { return false }
                    if s.free > 0 && s.waiters.isEmpty {
                        s.free -= 1
                        return true
                    }
                    s.waiters.append((ticket, continuation))
                    return nil
                }
                if let granted { continuation.resume(returning: granted) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                guard let i = s.waiters.firstIndex(where: { $0.ticket == ticket }) else { return nil }
                return s.waiters.remove(at: i).continuation
            }
            waiter?.resume(returning: false)
        }
    }

    func release() {
        let next = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            if s.waiters.isEmpty {
                s.free += 1
                return nil
            }
            return s.waiters.removeFirst().continuation
        }
        next?.resume(returning: true)
    }
}
