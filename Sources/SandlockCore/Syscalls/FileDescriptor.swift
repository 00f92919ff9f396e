#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// An owned, close-on-exec file descriptor; closed exactly once, when it goes out of scope.
struct FileDescriptor: ~Copyable {
    let rawValue: Int32

    init(adopting rawValue: Int32) { self.rawValue = rawValue }

    /// open(2) with O_CLOEXEC always added.
    init(opening path: String, flags: Int32, mode: mode_t = 0) throws(Errno) {
        rawValue = try retryingInterrupts { csl_open(path, flags, mode) }
    }

    /// Gives up ownership without closing.
    consuming func release() -> Int32 {
        let value = rawValue
        discard self
        return value
    }

    deinit { Glibc.close(rawValue) }
}

/// The two ends of a pipe2(O_CLOEXEC).
struct Pipe: ~Copyable {
    var read: FileDescriptor
    var write: FileDescriptor

    init() throws(Errno) {
        var fds: [Int32] = [-1, -1]
        let rc = fds.withUnsafeMutableBufferPointer { csl_pipe_cloexec($0.baseAddress) }
        if rc != 0 { throw Errno.current }
        read = FileDescriptor(adopting: fds[0])
        write = FileDescriptor(adopting: fds[1])
    }
}
