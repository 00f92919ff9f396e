#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A deterministic /dev/urandom (`random_seed`): the supervisor answers the open with the
/// read end of a pipe, and this keeps the write end full with the stream's bytes. Each open
/// has its own stream, so the bytes do not depend on how reads and getrandom calls interleave.
final class RandomFeed: EventSource {
    let descriptor: SharedDescriptor
    var interest: Epoll.Events { .writable }

    private struct Stream {
        var random: DeterministicRandom
        /// Drawn but not yet taken by the pipe: the stream never depends on the reader's pace.
        var pending: [UInt8] = []
    }

    private let stream: Mutex<Stream>
    /// The sandbox's count of open feeds: released when this feed goes (its reader closed
    /// it, EPIPE/EPOLLERR, or the sandbox ended).
    private let ticket: RandomFeedTicket

    /// One page: all a feed pins in the kernel (the default is 16 pages).
    static let pipeCapacity: Int32 = 4096

    init(seed: UInt64, writing descriptor: SharedDescriptor, ticket: RandomFeedTicket) throws(Errno) {
        try descriptor.descriptor.setNonblocking()
        try descriptor.descriptor.setPipeCapacity(Self.pipeCapacity)
        self.descriptor = descriptor
        self.ticket = ticket
        stream = Mutex(Stream(random: DeterministicRandom(seed: seed)))
    }

    func ready(_ events: Epoll.Events) -> EventLoop.Next {
        stream.withLock { stream in
            while true {
                if stream.pending.isEmpty { stream.pending = stream.random.bytes(Int(Self.pipeCapacity)) }
                let result = stream.pending.withUnsafeBytes { raw in
                    Result { () throws(Errno) in try descriptor.descriptor.write(raw) }
                }
                switch result {
                case .success(let written): stream.pending.removeFirst(written)
                case .failure(.EAGAIN): return .rearm
                case .failure: return .remove // EPIPE (EPOLLERR): the reader closed it
                }
            }
        }
    }
}

/// How many /dev/urandom feeds one sandbox holds open: each costs the supervising process
/// (shared by every sandbox it runs) a descriptor and a pipe buffer, so beyond `limit` an
/// open of /dev/urandom answers EMFILE.
final class RandomFeedBudget: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// A ticket for one more feed, or nil at the limit.
    func take() -> RandomFeedTicket? {
        var current = open.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = open.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return RandomFeedTicket(self) }
            current = original
        }
        return nil
    }

    var inUse: Int { open.load(ordering: .relaxed) }

    fileprivate func release() { open.subtract(1, ordering: .acquiringAndReleasing) }
}

/// One feed's place in its sandbox's budget, given back when the last holder lets go (the
/// verdict that was never answered, or the feed once the loop drops it).
final class RandomFeedTicket: Sendable {
    private let budget: RandomFeedBudget

    fileprivate init(_ budget: RandomFeedBudget) { self.budget = budget }

    deinit { budget.release() }
}
