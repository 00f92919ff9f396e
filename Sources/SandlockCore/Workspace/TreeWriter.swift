#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// Writes beneath a directory without following symlinks: each parent directory is opened with
/// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) from the root's descriptor and the last
/// component is handled with *at() calls, so a directory of the real tree swapped for a symlink
/// while a commit runs fails the operation (ELOOP) instead of redirecting it elsewhere.
struct TreeWriter: ~Copyable {
    private let root: FileDescriptor

    init(_ directory: String) throws(Errno) {
        root = try FileDescriptor(opening: directory, flags: CSL_O_PATH | O_DIRECTORY)
    }

    /// Runs `body` with the directory holding `relative` and its last component.
    func withParent<T>(of relative: String, _ body: (borrowing FileDescriptor, String) throws(Errno) -> T) throws(Errno) -> T {
        let parent = Files.parent(of: relative), name = FileSystem.baseName(of: relative)
        let directory = try FileDescriptor(openingBeneath: parent, in: root, flags: O_RDONLY | O_DIRECTORY)
        return try body(directory, name)
    }

    /// chmod of `relative` itself, reached without following any symlink.
    func changeMode(_ relative: String, _ mode: UInt32) throws(Errno) {
        let file = try FileDescriptor(openingBeneath: relative, in: root, flags: CSL_O_PATH)
        try Self.changeMode(of: file, mode)
    }

    /// Removes `name` in `directory`, a whole tree if it is one; a missing name is fine.
    func remove(_ name: String, in directory: borrowing FileDescriptor) throws(Errno) {
        let info: stat
        do { info = try directory.status(of: name) } catch .ENOENT { return }
        if info.st_mode.isDirectory {
            // overlayfs leaves directories at mode 0 (work/work); open them up first.
            if info.st_mode & 0o700 != 0o700 {
                let entry = try FileDescriptor(opening: name, in: directory, flags: CSL_O_PATH | O_NOFOLLOW)
                try Self.changeMode(of: entry, 0o700)
            }
            let child = try FileDescriptor(opening: name, in: directory, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            for entry in try Directory.entries(of: try child.duplicate()) { try remove(entry, in: child) }
            do { try directory.removeEntry(name, directory: true) } catch .ENOENT {}
        } else {
            do { try directory.removeEntry(name) } catch .ENOENT {}
        }
    }

    /// rename(2) of `scratch` over `name`; a directory in the way (an older replay) goes first.
    func replace(_ name: String, with scratch: String, in directory: borrowing FileDescriptor) throws(Errno) {
        do {
            try directory.renameEntry(scratch, to: name)
        } catch .EISDIR, .ENOTEMPTY, .EEXIST {
            try remove(name, in: directory)
            try directory.renameEntry(scratch, to: name)
        }
    }

    /// chmod(2) through /proc/self/fd: an O_PATH descriptor has no fchmod.
    private static func changeMode(of file: borrowing FileDescriptor, _ mode: UInt32) throws(Errno) {
        if chmod(file.procPath, mode_t(mode)) != 0 { throw Errno.current }
    }
}
