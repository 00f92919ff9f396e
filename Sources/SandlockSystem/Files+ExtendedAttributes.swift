#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// Extended attributes of a path itself (the l*xattr(2) calls: a symlink's own, not its
/// target's).
extension Files {
    /// lgetxattr(2): the value of `name` (at most `limit` bytes), nil when it is absent or
    /// cannot be read.
    public static func extendedAttribute(_ name: String, of path: String, limit: Int = 256) -> [UInt8]? {
        var value = [UInt8](repeating: 0, count: limit)
        let count = value.withUnsafeMutableBytes { csl_lgetxattr(path, name, $0.baseAddress, $0.count) }
        return count >= 0 ? Array(value[0..<count]) : nil
    }

    /// lsetxattr(2) of `name` to `value` (created or replaced).
    public static func setExtendedAttribute(_ name: String, of path: String, to value: [UInt8]) throws(Errno) {
        if value.withUnsafeBytes({ csl_lsetxattr(path, name, $0.baseAddress, $0.count) }) != 0 { throw Errno.current }
    }

    /// llistxattr(2): the attribute names of `path` (empty when it has none or they cannot
    /// be listed; names beyond the first 4 KiB of the list are not seen).
    public static func extendedAttributeNames(of path: String) -> [String] {
        var names = [CChar](repeating: 0, count: 4096)
        let length = csl_llistxattr(path, &names, names.count)
        guard length > 0 else { return [] }
        return names[0..<length].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    }

    /// lremovexattr(2) of `name`.
    public static func removeExtendedAttribute(_ name: String, of path: String) throws(Errno) {
        if csl_lremovexattr(path, name) != 0 { throw Errno.current }
    }
}
