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

    init(seed: UInt64, writing descriptor: SharedDescriptor) throws(Errno) {
        try descriptor.descriptor.setNonblocking()
        self.descriptor = descriptor
        stream = Mutex(Stream(random: DeterministicRandom(seed: seed)))
    }

    func ready(_ events: Epoll.Events) -> EventLoop.Next {
        stream.withLock { stream in
            while true {
                if stream.pending.isEmpty { stream.pending = stream.random.bytes(16384) }
                let result = stream.pending.withUnsafeBytes { raw in
                    Result { () throws(Errno) in try descriptor.descriptor.write(raw) }
                }
                switch result {
                case .success(let written): stream.pending.removeFirst(written)
                case .failure(.EAGAIN): return .rearm
                case .failure: return .remove // EPIPE: the reader closed it
                }
            }
        }
    }
}
