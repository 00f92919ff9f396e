#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// An owned, close-on-exec file descriptor; closed exactly once, when it goes out of scope.
/// The only raw-`Int32` way in is `init(adopting:)` (for descriptors the kernel hands back
/// through C: pidfds, listeners), the only way out `release()` (to give one to C).
@frozen public struct FileDescriptor: ~Copyable, Sendable {
    public let rawValue: Int32

    @inlinable public init(adopting rawValue: Int32) { self.rawValue = rawValue }

    /// open(2) with O_CLOEXEC always added; EINTR retried.
    public init(opening path: String, flags: Int32, mode: mode_t = 0) throws(Errno) {
        rawValue = try retryingInterrupts { csl_open(path, flags, mode) }
    }

    /// openat(2) relative to `directory`, O_CLOEXEC added.
    public init(opening path: String, in directory: borrowing FileDescriptor, flags: Int32, mode: mode_t = 0) throws(Errno) {
        let directoryFD = directory.rawValue
        rawValue = try retryingInterrupts { openat(directoryFD, path, flags | O_CLOEXEC, mode) }
    }

    /// Gives up ownership without closing.
    public consuming func release() -> Int32 {
        let value = rawValue
        discard self
        return value
    }

    /// fcntl(F_DUPFD_CLOEXEC): another descriptor of the same open file.
    public func duplicate() throws(Errno) -> FileDescriptor {
        let fd = rawValue
        return FileDescriptor(adopting: try retryingInterrupts { fcntl(fd, F_DUPFD_CLOEXEC, 0) })
    }

    /// O_NONBLOCK on the open file (shared by every descriptor of it).
    public func setNonblocking() throws(Errno) {
        if csl_set_nonblocking(rawValue) != 0 { throw Errno.current }
    }

    /// Clears O_NONBLOCK on the open file (shared by every descriptor of it).
    public func clearNonblocking() throws(Errno) {
        let fd = rawValue
        let flags = try retryingInterrupts { fcntl(fd, F_GETFL) }
        _ = try retryingInterrupts { fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
    }

    /// The open file's status flags and access mode (fcntl F_GETFL).
    public func statusFlags() throws(Errno) -> Int32 {
        let fd = rawValue
        return try retryingInterrupts { fcntl(fd, F_GETFL) }
    }

    /// F_SETPIPE_SZ: the pipe's buffer to at least `bytes` (rounded up to pages by the
    /// kernel); the capacity it got.
    @discardableResult
    public func setPipeCapacity(_ bytes: Int32) throws(Errno) -> Int32 {
        let fd = rawValue
        return try retryingInterrupts { fcntl(fd, Self.setPipeSize, bytes) }
    }

    /// F_SETPIPE_SZ (F_LINUX_SPECIFIC_BASE + 7), which the Glibc module does not export.
    private static let setPipeSize: Int32 = 1024 + 7

    // MARK: Reading and writing

    /// One read(2), EINTR retried: the count read, 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        let fd = rawValue
        return try retryingInterrupts { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// pread(2) at `offset`, EINTR retried.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(Errno) -> Int {
        let fd = rawValue
        return try retryingInterrupts { pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    /// Everything up to end of file (or `limit` bytes). On a non-blocking descriptor it stops
    /// at EAGAIN with what was there.
    public func readAll(limit: Int = .max) throws(Errno) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while bytes.count < limit {
            let wanted = min(chunk.count, limit - bytes.count)
            let result = chunk.withUnsafeMutableBytes { raw in
                Result { () throws(Errno) in try read(into: UnsafeMutableRawBufferPointer(rebasing: raw.prefix(wanted))) }
            }
            let got: Int
            switch result {
            case .success(let count): got = count
            case .failure(.EAGAIN): return bytes
            case .failure(let error): throw error
            }
            if got == 0 { break }
            bytes += chunk[0..<got]
        }
        return bytes
    }

    /// Reads one fixed-size record written with a single write(2) (a C struct through a
    /// pipe); nil at end of file or on a short read.
    public func readRecord<Record: BitwiseCopyable>(_ type: Record.Type) -> Record? {
        let size = MemoryLayout<Record>.size
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: MemoryLayout<Record>.alignment)
        defer { buffer.deallocate() }
        guard let got = try? read(into: buffer), got == size else { return nil }
        return buffer.load(as: Record.self)
    }

    /// One write(2), EINTR retried: the count written.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
        let fd = rawValue
        return try retryingInterrupts { Glibc.write(fd, bytes.baseAddress, bytes.count) }
    }

    /// pwrite(2) of every byte at `offset` (short writes continued, EINTR retried): the count.
    @discardableResult
    public func write(_ bytes: [UInt8], at offset: Int64) throws(Errno) -> Int {
        let fd = rawValue
        var done = 0
        while done < bytes.count {
            done += try bytes.withUnsafeBytes { raw in
                Result { () throws(Errno) in
                    try retryingInterrupts { pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + Int64(done))) }
                }
            }.get()
        }
        return done
    }

    /// write(2) until every byte is written (short writes continued, EINTR retried).
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        var offset = 0
        while offset < bytes.count {
            offset += try write(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
        }
    }

    public func writeAll(_ bytes: [UInt8]) throws(Errno) {
        try bytes.withUnsafeBytes { raw in Result { () throws(Errno) in try writeAll(raw) } }.get()
    }

    public func writeAll(_ text: String) throws(Errno) {
        try writeAll(Array(text.utf8))
    }

    /// Writes one byte: a wake-up or a command through a pipe. Errors are the caller's to
    /// ignore (a reader that is gone has nothing left to wake).
    @discardableResult
    public func writeByte(_ byte: UInt8 = 1) -> Bool {
        withUnsafeBytes(of: byte) { (try? write($0)) == 1 }
    }

    /// fsync(2).
    public func sync() throws(Errno) {
        let fd = rawValue
        _ = try retryingInterrupts { fsync(fd) }
    }

    /// fstat(2).
    public func status() throws(Errno) -> stat {
        var info = stat()
        let fd = rawValue
        _ = try retryingInterrupts { fstat(fd, &info) }
        return info
    }

    deinit { Glibc.close(rawValue) }
}

/// The two ends of a pipe2(O_CLOEXEC).
@frozen public struct KernelPipe: ~Copyable, Sendable {
    public var read: FileDescriptor
    public var write: FileDescriptor

    public init() throws(Errno) {
        var fds: (Int32, Int32) = (-1, -1)
        let rc = withUnsafeMutableBytes(of: &fds) { csl_pipe_cloexec($0.baseAddress!.assumingMemoryBound(to: Int32.self)) }
        if rc != 0 { throw Errno.current }
        read = FileDescriptor(adopting: fds.0)
        write = FileDescriptor(adopting: fds.1)
    }
}

/// A file descriptor several owners may hold (a pipe end shared by two sandboxes of a
/// pipeline, a listener shared by the event loop and a worker); closed when the last
/// reference goes.
public final class SharedDescriptor: Sendable {
    public let descriptor: FileDescriptor

    public init(_ descriptor: consuming FileDescriptor) { self.descriptor = descriptor }

    @inlinable public var rawValue: Int32 { descriptor.rawValue }
}
