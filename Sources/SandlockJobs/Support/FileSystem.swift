#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SandlockSystem

/// The few file operations the manifest layer needs, on libc directly (no Foundation, so
/// `sandlock-jobs` starts fast). Only `read` is public, for `ManifestLoader.load(path:)`.
public enum FileSystem {
    public struct ReadError: Error, Sendable {
        public var path: String
        public var errno: Int32
        public var reason: String { String(cString: strerror(errno)) }
    }

    /// The whole file as text (`open(2)`, `read(2)`); invalid UTF-8 becomes U+FFFD.
    public static func read(_ path: String) throws(ReadError) -> String {
        String(decoding: try bytes(path), as: UTF8.self)
    }

    /// The whole file (`open(2)`, `read(2)`, EINTR retried: `Files.read`).
    public static func bytes(_ path: String, limit: Int = .max) throws(ReadError) -> [UInt8] {
        do { return try Files.read(path, limit: limit) } catch {
            throw ReadError(path: path, errno: error.errno.rawValue)
        }
    }

    /// `stat(2)`: the size of a regular file; nil for anything else or when it cannot be
    /// stat'ed (reading it then says why).
    static func size(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(st.st_size)
    }

    /// `stat(2)`: nil when the path does not exist, else whether it is a directory.
    static func isDirectory(_ path: String) -> Bool? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    static var currentDirectory: String {
        guard let p = getcwd(nil, 0) else { return "/" }
        defer { free(p) }
        return String(cString: p)
    }

    /// `glob(3)` matches, sorted; hidden files only when the pattern names them.
    static func glob(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, 0, nil, &g) == 0 else { return [] }
        return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }
    }

    /// `path` made absolute against `base` and cleaned of `.`, `..` and repeated slashes,
    /// without touching the filesystem (symlinks are not followed).
    static func absolute(_ path: String, base: String) -> String {
        normalize(path.hasPrefix("/") ? path : base + "/" + path)
    }

    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { _ = parts.popLast(); continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// True when `path` is `base` or lies below it (both normalised).
    static func isInside(_ path: String, _ base: String) -> Bool {
        path == base || base == "/" || path.hasPrefix(base + "/")
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
