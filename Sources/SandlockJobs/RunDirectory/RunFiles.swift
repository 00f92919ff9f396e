#if canImport(Glibc)
import Glibc
#endif
import SandlockSystem

/// The run directory's file operations, on the system layer (`Files`, `Directory`,
/// `FileDescriptor`), with its errors as `RunFileError`.
enum RunFiles {
    /// Replaces `path` through a temporary file beside it and rename(2): readers see the old
    /// record or the new one, never a part. `sync` makes it durable (fsync of the file before
    /// the rename, of the directory after it).
    static func writeAtomically(_ bytes: [UInt8], to path: String, sync: Bool) throws(RunFileError) {
        do { try Files.writeAtomically(bytes, to: path, durable: sync) } catch { throw .file(error) }
    }

    /// `mkdir -p`.
    static func makeDirectories(_ path: String) throws(RunFileError) {
        do { try Files.makeDirectories(path) } catch { throw .file(error) }
    }

    /// Points the symlink `link` at `target` atomically.
    static func pointSymlink(_ link: String, to target: String) throws(RunFileError) {
        do { try Files.replaceSymlink(link, to: target) } catch { throw .file(error) }
    }

    /// readlink(2); nil when `path` is not a symlink.
    static func readSymlink(_ path: String) -> String? {
        Files.readLink(path).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Names in a directory (not `.` and `..`), sorted; empty when it cannot be read.
    static func entries(of path: String) -> [String] {
        (try? Directory.entries(atPath: path, names: .lossy)) ?? []
    }

    /// The path exists (stat(2), following symlinks).
    static func exists(_ path: String) -> Bool { Files.statusFollowingLinks(path) != nil }

    /// The last `lines` lines of a file, reading at most its last 64 KiB.
    static func tail(_ path: String, lines: Int) -> [String] {
        guard let file = try? FileDescriptor(opening: path, flags: O_RDONLY), let info = try? file.status() else { return [] }
        let size = Int64(info.st_size)
        let start = max(0, size - 65536)
        var buffer = [UInt8](repeating: 0, count: Int(size - start))
        let count = buffer.withUnsafeMutableBytes { raw in (try? file.read(into: raw, at: start)) ?? 0 }
        guard count > 0 else { return [] }
        var text = String(decoding: buffer[0..<count], as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        var all = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if start > 0, !all.isEmpty { all.removeFirst() }  // probably a partial line
        return Array(all.suffix(lines))
    }

    /// Copies a file to `out` in chunks of `buffer`'s size; false when writing failed (EPIPE:
    /// the reader went away). A file that cannot be opened is no output.
    static func copy(_ path: String, to out: borrowing FileDescriptor, buffer: inout [UInt8]) -> Bool {
        guard let file = try? FileDescriptor(opening: path, flags: O_RDONLY) else { return true }
        while true {
            let result = buffer.withUnsafeMutableBytes { raw in Result { () throws(Errno) in try file.read(into: raw) } }
            guard case .success(let count) = result, count > 0 else { return true }
            let written = buffer.withUnsafeBytes { raw in
                Result { () throws(Errno) in try out.writeAll(UnsafeRawBufferPointer(rebasing: raw.prefix(count))) }
            }
            if case .failure = written { return false }
        }
    }
}

/// A file operation in the run directory that failed, or a record that cannot be decoded.
public enum RunFileError: Error, Sendable, CustomStringConvertible {
    case file(FileError)
    /// The file was read but is not a record of the expected kind.
    case notARecord(path: String)

    public var path: String {
        switch self {
        case .file(let error): error.path
        case .notARecord(let path): path
        }
    }

    public var description: String {
        switch self {
        case .file(let error): error.description
        case .notARecord(let path): "cannot decode '\(path)': not a record of this version"
        }
    }
}
