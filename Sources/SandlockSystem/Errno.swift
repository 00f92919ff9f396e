#if canImport(Glibc)
import Glibc
#endif

/// An errno value captured right after a failing syscall.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    @inlinable public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    @inlinable public static var current: Errno { Errno(rawValue: errno) }

    public static let EPERM = Errno(rawValue: Glibc.EPERM)
    public static let ENOENT = Errno(rawValue: Glibc.ENOENT)
    public static let EINTR = Errno(rawValue: Glibc.EINTR)
    public static let EAGAIN = Errno(rawValue: Glibc.EAGAIN)
    public static let EACCES = Errno(rawValue: Glibc.EACCES)
    public static let EEXIST = Errno(rawValue: Glibc.EEXIST)
    public static let EINVAL = Errno(rawValue: Glibc.EINVAL)
    public static let ENOSYS = Errno(rawValue: Glibc.ENOSYS)
    public static let EOPNOTSUPP = Errno(rawValue: Glibc.EOPNOTSUPP)
    public static let EBUSY = Errno(rawValue: Glibc.EBUSY)
    public static let EILSEQ = Errno(rawValue: Glibc.EILSEQ)
    public static let ESRCH = Errno(rawValue: Glibc.ESRCH)
    public static let EISDIR = Errno(rawValue: Glibc.EISDIR)
    public static let ENOTDIR = Errno(rawValue: Glibc.ENOTDIR)
    public static let ENOTEMPTY = Errno(rawValue: Glibc.ENOTEMPTY)
    public static let EXDEV = Errno(rawValue: Glibc.EXDEV)
    public static let ELOOP = Errno(rawValue: Glibc.ELOOP)
    public static let EBADF = Errno(rawValue: Glibc.EBADF)

    /// The symbolic name, e.g. `EACCES`.
    public var name: String {
        Self.names[rawValue] ?? "errno \(rawValue)"
    }

    public var description: String {
        "\(name) (\(String(cString: strerror(rawValue))))"
    }

    private static let names: [Int32: String] = [
        Glibc.EPERM: "EPERM", Glibc.ENOENT: "ENOENT", Glibc.ESRCH: "ESRCH", Glibc.EINTR: "EINTR",
        Glibc.EIO: "EIO", Glibc.ENXIO: "ENXIO", Glibc.E2BIG: "E2BIG", Glibc.ENOEXEC: "ENOEXEC",
        Glibc.EBADF: "EBADF", Glibc.ECHILD: "ECHILD", Glibc.EAGAIN: "EAGAIN", Glibc.ENOMEM: "ENOMEM",
        Glibc.EACCES: "EACCES", Glibc.EFAULT: "EFAULT", Glibc.EBUSY: "EBUSY", Glibc.EEXIST: "EEXIST",
        Glibc.EXDEV: "EXDEV", Glibc.ENODEV: "ENODEV", Glibc.ENOTDIR: "ENOTDIR", Glibc.EISDIR: "EISDIR",
        Glibc.EINVAL: "EINVAL", Glibc.ENFILE: "ENFILE", Glibc.EMFILE: "EMFILE", Glibc.ENOTTY: "ENOTTY",
        Glibc.ETXTBSY: "ETXTBSY", Glibc.EFBIG: "EFBIG", Glibc.ENOSPC: "ENOSPC", Glibc.EROFS: "EROFS",
        Glibc.EPIPE: "EPIPE", Glibc.ENAMETOOLONG: "ENAMETOOLONG", Glibc.ENOSYS: "ENOSYS",
        Glibc.ENOTEMPTY: "ENOTEMPTY", Glibc.EILSEQ: "EILSEQ", Glibc.EOVERFLOW: "EOVERFLOW",
        Glibc.ELOOP: "ELOOP", Glibc.EOPNOTSUPP: "EOPNOTSUPP", Glibc.ECONNREFUSED: "ECONNREFUSED",
        Glibc.EADDRINUSE: "EADDRINUSE", Glibc.ETIMEDOUT: "ETIMEDOUT", Glibc.ENOTSOCK: "ENOTSOCK",
        Glibc.EAFNOSUPPORT: "EAFNOSUPPORT", Glibc.ECONNRESET: "ECONNRESET", Glibc.ENOTCONN: "ENOTCONN",
    ]
}

/// The one EINTR policy of the project: a syscall wrapper that returns -1 and sets errno is
/// retried while it reports EINTR, and any other failure is thrown.
/// Never use it for `close`, whose descriptor is gone even when it reports EINTR.
@inlinable @inline(__always)
public func retryingInterrupts<T: BinaryInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let error = Errno.current
        if error != .EINTR { throw error }
    }
}

/// The same for calls that return a pointer (opendir, fdopendir): nil with errno set fails.
@inlinable @inline(__always)
public func retryingInterrupts<T>(_ body: () -> T?) throws(Errno) -> T {
    while true {
        if let result = body() { return result }
        let error = Errno.current
        if error != .EINTR { throw error }
    }
}
