#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Feeds `StandardIO.stdin = .bytes(…)` through the write end of the command's stdin pipe
/// as it drains, then closes it (EOF). A command that stops reading (EPIPE) ends the feed.
final class StdinFeed: EventSource {
    let descriptor: SharedDescriptor
    var interest: Epoll.Events { .writable }
    private let bytes: [UInt8]
    private let offset = Mutex(0)

    init(_ bytes: [UInt8], writing descriptor: SharedDescriptor) throws(Errno) {
        try descriptor.descriptor.setNonblocking()
        self.bytes = bytes
        self.descriptor = descriptor
    }

    func ready(_ events: Epoll.Events) -> EventLoop.Next {
        offset.withLock { offset in
            while offset < bytes.count {
                let result = bytes.withUnsafeBytes { raw in
                    Result { () throws(Errno) in try descriptor.descriptor.write(UnsafeRawBufferPointer(rebasing: raw[offset...])) }
                }
                switch result {
                case .success(let written): offset += written
                case .failure(.EAGAIN): return .rearm
                case .failure: return .remove // EPIPE: the command stopped reading
                }
            }
            return .remove
        }
    }
}
