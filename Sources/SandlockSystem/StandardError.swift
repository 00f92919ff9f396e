#if canImport(Glibc)
import Glibc
#endif

/// The process's standard error (descriptor 2), borrowed: written to, never closed.
public enum StandardError {
    /// write(2) of all of `text` (short writes continued, EINTR retried). A failure is
    /// dropped: there is nowhere left to report it.
    public static func write(_ text: String) {
        let standardError = FileDescriptor(adopting: STDERR_FILENO)
        try? standardError.writeAll(text)
        _ = standardError.release()
    }
}
