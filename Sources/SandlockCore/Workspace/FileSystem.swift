#if canImport(Glibc)
import Glibc
#endif

/// What workspaces add to the system layer's `Files` and `Directory`: overlayfs' markers
/// (whiteouts, opaque directories, its own extended attributes) and copying a file into a
/// directory reached safely.
enum FileSystem {
    static func kind(_ info: stat) -> mode_t { info.st_mode & S_IFMT }

    /// A whiteout: the 0:0 character device overlayfs leaves for a deleted name.
    static func isWhiteout(_ info: stat) -> Bool {
        kind(info) == S_IFCHR && info.st_rdev == 0
    }

    /// The opaque markers: `trusted.overlay.opaque`, or `user.overlay.opaque` for overlays
    /// mounted with `userxattr`.
    static let opaqueAttributes = ["trusted.overlay.opaque", "user.overlay.opaque"]
    /// The value of an opaque marker.
    static let opaqueValue = [UInt8(ascii: "y")]

    /// An opaque directory hides the lower layers' contents (either marker set to "y").
    static func isOpaque(_ path: String) -> Bool {
        opaqueAttributes.contains { Files.extendedAttribute($0, of: path, limit: 1) == opaqueValue }
    }

    static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Copies a regular file's contents into a new file `name` of `directory` (created with
    /// `mode`, never through a symlink). No fsync: a commit syncs the filesystem once before it
    /// drops its journal.
    static func copyFile(from source: String, to name: String, in directory: borrowing FileDescriptor, mode: mode_t) throws(Errno) {
        try copyFile(from: try FileDescriptor(opening: source, flags: O_RDONLY | O_NOFOLLOW), to: name, in: directory, mode: mode)
    }

    /// The same from an open regular file.
    static func copyFile(from input: borrowing FileDescriptor, to name: String, in directory: borrowing FileDescriptor, mode: mode_t) throws(Errno) {
        guard try input.status().st_mode & S_IFMT == S_IFREG else { throw Errno.EINVAL }
        let output = try FileDescriptor(opening: name, in: directory, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: copyChunk, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let got = try input.read(into: chunk)
            if got == 0 { break }
            try output.writeAll(UnsafeRawBufferPointer(rebasing: chunk[0..<got]))
        }
    }

    /// The read size of `copyFile` and of file hashing.
    static let copyChunk = 1 << 16

    /// Removes overlayfs' own extended attributes (`trusted.overlay.*`, `user.overlay.*`)
    /// and file capabilities (`security.capability`, privileges like a setuid bit) from a file
    /// linked or copied out of an upper directory.
    static func removeOverlayAttributes(_ path: String) {
        for name in Files.extendedAttributeNames(of: path)
        where name.hasPrefix("trusted.overlay.") || name.hasPrefix("user.overlay.") || name == "security.capability" {
            try? Files.removeExtendedAttribute(name, of: path)
        }
    }
}
