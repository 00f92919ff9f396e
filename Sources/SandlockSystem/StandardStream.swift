#if canImport(Glibc)
import Glibc
#endif

/// The process's standard streams, borrowed, never closed: where a CLI prints (logs, diffs,
/// progress). Descriptors the program opens are `FileDescriptor`s; these three it inherits
/// and only ever writes or asks about.
public enum StandardStream: Int32, Sendable, Hashable {
    case input = 0, output = 1, error = 2

    /// write(2) until every byte is written (short writes continued, EINTR retried); throws
    /// the errno of a failed write (EPIPE when the reader went away).
    public func writeAll(_ bytes: [UInt8]) throws(Errno) {
        let fd = rawValue
        try bytes.withUnsafeBytes { raw in
            Result { () throws(Errno) in
                var offset = 0
                while offset < raw.count {
                    offset += try retryingInterrupts { Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset) }
                }
            }
        }.get()
    }

    public func writeAll(_ text: String) throws(Errno) {
        try writeAll(Array(text.utf8))
    }

    /// fcntl(F_DUPFD_CLOEXEC): an owned descriptor of the stream's open file, to ask about it.
    public func duplicate() throws(Errno) -> FileDescriptor {
        let fd = rawValue
        return FileDescriptor(adopting: try retryingInterrupts { fcntl(fd, F_DUPFD_CLOEXEC, 0) })
    }

    /// isatty(3): the stream is a terminal.
    public var isTerminal: Bool { isatty(rawValue) == 1 }
}
