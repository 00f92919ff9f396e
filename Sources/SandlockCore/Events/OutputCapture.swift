#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A captured stdout or stderr: the read end of the command's pipe, drained as it fills (so
/// outputs larger than a pipe buffer never deadlock), collected until end of file.
final class OutputCapture: EventSource {
    enum Stream: Sendable { case stdout, stderr }

    let stream: Stream
    let descriptor: SharedDescriptor
    var interest: Epoll.Events { .readable }
    private let bytes = Mutex<[UInt8]>([])

    init(_ stream: Stream, reading descriptor: SharedDescriptor) throws(Errno) {
        try descriptor.descriptor.setNonblocking()
        self.stream = stream
        self.descriptor = descriptor
    }

    func ready(_ events: Epoll.Events) -> EventLoop.Next {
        drain() ? .remove : .rearm
    }

    /// Reads what the pipe holds; true at end of file (or on an error: nothing more will come).
    @discardableResult
    func drain() -> Bool {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
        defer { chunk.deallocate() }
        while true {
            do {
                let got = try descriptor.descriptor.read(into: chunk)
                if got == 0 { return true }
                bytes.withLock { $0.append(contentsOf: chunk.prefix(got)) }
            } catch .EAGAIN {
                return false
            } catch {
                return true
            }
        }
    }

    /// What was read so far (all of it, once the pipe reached end of file or init exited).
    var collected: [UInt8] { bytes.withLock { $0 } }
}
