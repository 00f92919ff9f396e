#if canImport(Glibc)
import Glibc
#endif

/// An errno value captured right after a failing syscall.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    static var current: Errno { Errno(rawValue: errno) }

    public static let EPERM = Errno(rawValue: Glibc.EPERM)
    public static let ENOENT = Errno(rawValue: Glibc.ENOENT)
    public static let EINTR = Errno(rawValue: Glibc.EINTR)
    public static let EAGAIN = Errno(rawValue: Glibc.EAGAIN)
    public static let EACCES = Errno(rawValue: Glibc.EACCES)
    public static let EINVAL = Errno(rawValue: Glibc.EINVAL)
    public static let ENOSYS = Errno(rawValue: Glibc.ENOSYS)
    public static let EOPNOTSUPP = Errno(rawValue: Glibc.EOPNOTSUPP)
    public static let EBUSY = Errno(rawValue: Glibc.EBUSY)

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
        Glibc.ELOOP: "ELOOP", Glibc.EOPNOTSUPP: "EOPNOTSUPP", Glibc.ECONNREFUSED: "ECONNREFUSED",
        Glibc.EADDRINUSE: "EADDRINUSE", Glibc.ETIMEDOUT: "ETIMEDOUT",
    ]
}

/// Runs a syscall wrapper that returns -1 and sets errno, retrying on EINTR.
/// Never use it for `close`, whose descriptor is gone even when it reports EINTR.
@inline(__always)
func retryingInterrupts<T: BinaryInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let error = Errno.current
        if error != .EINTR { throw error }
    }
}
