import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// The metadata calls Landlock does not judge (chmod, chown, times, extended attributes):
/// outside every write grant they fail with EPERM and change nothing; inside one they work
/// (the positive control of each call).
enum MetadataCalls {
    /// Path-based calls and what each changes.
    static let byPath = ["chmod", "fchmodat", "fchmodat2", "procfd-chmod", "utimensat", "utimensat-now", "utimes",
                         "utime", "futimesat", "setxattr", "lsetxattr", "removexattr", "lremovexattr",
                         "chown", "lchown", "fchownat", "opath-fchownat"]
    /// Calls on a descriptor the sandbox opened for reading (Landlock judged only the open).
    static let byDescriptor = ["fchmod", "fchown", "futimens", "fsetxattr", "fremovexattr"]
    static let all = byPath + byDescriptor

    /// A file's mode, mtime and user.sandlock attribute: what the calls would change.
    struct Snapshot: Equatable {
        var mode: mode_t
        var mtime: Int
        var ctime: timespec
        var attribute: [UInt8]?

        static func == (a: Self, b: Self) -> Bool {
            a.mode == b.mode && a.mtime == b.mtime && a.ctime.tv_sec == b.ctime.tv_sec
                && a.ctime.tv_nsec == b.ctime.tv_nsec && a.attribute == b.attribute
        }
    }

    static func snapshot(_ path: String) -> Snapshot {
        var info = stat()
        lstat(path, &info)
        return Snapshot(mode: info.st_mode, mtime: info.st_mtim.tv_sec, ctime: info.st_ctim,
                        attribute: Files.extendedAttribute("user.sandlock", of: path))
    }

    /// A fresh 0644 file with mtime 1 and user.sandlock="old" (so removals have something to
    /// remove).
    static func makeFile(_ path: String) throws {
        unlink(path)
        try "data".write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o644)
        var times = [timespec(tv_sec: 1, tv_nsec: 0), timespec(tv_sec: 1, tv_nsec: 0)]
        utimensat(AT_FDCWD, path, &times, 0)
        try Files.setExtendedAttribute("user.sandlock", of: path, to: Array("old".utf8))
    }
}

@Suite("File metadata outside the write grants", Fixture.needs(Requirement.sandbox + [.seccompUserNotification]))
struct FileMetadataTests {
    @Test("each metadata call outside every write grant fails with EPERM and changes nothing; inside one it works",
          arguments: MetadataCalls.all)
    func outsideGrants(call: String) async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let outside = directory + "/outside", inside = directory + "/inside"
            mkdir(outside, 0o755)
            mkdir(inside, 0o755)
            let victim = outside + "/file", own = inside + "/file"
            try MetadataCalls.makeFile(victim)
            try MetadataCalls.makeFile(own)
            // Readable (so descriptor calls can open it), not writable.
            let policy = Fixture.basePolicy.with { $0.fsReadable.append(outside); $0.fsWritable.append(inside) }
            let before = MetadataCalls.snapshot(victim)
            #expect(try await probe(["meta", call, victim], policy: policy) == "EPERM", "\(call) outside the grants")
            #expect(MetadataCalls.snapshot(victim) == before, "\(call) changed a file outside the grants")
            let ownBefore = MetadataCalls.snapshot(own)
            #expect(try await probe(["meta", call, own], policy: policy) == "ok", "control: \(call) inside a write grant")
            // chown to the file's own group changes only its ctime; the others change more.
            #expect(MetadataCalls.snapshot(own) != ownBefore, "control: \(call) inside a write grant changed nothing")
        }
    }

    @Test("a symlink inside a write grant to a file outside does not carry the call outside")
    func symlinkOut() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let outside = directory + "/outside", inside = directory + "/inside"
            mkdir(outside, 0o755)
            mkdir(inside, 0o755)
            let victim = outside + "/file"
            try MetadataCalls.makeFile(victim)
            symlink(victim, inside + "/link")
            let policy = Fixture.basePolicy.with { $0.fsWritable.append(inside) }
            let before = MetadataCalls.snapshot(victim)
            for call in ["chmod", "utimensat", "setxattr", "chown", "fchmodat2"] {
                #expect(try await probe(["meta", call, inside + "/link"], policy: policy) == "EPERM", "\(call) through a symlink")
            }
            #expect(MetadataCalls.snapshot(victim) == before)
            // The link itself is inside: lchown of it works, chmod of a link is not supported.
            #expect(try await probe(["meta", "lchown", inside + "/link"], policy: policy) == "ok")
            #expect(try await probe(["meta", "fchmodat2-nofollow", inside + "/link"], policy: policy) == "EOPNOTSUPP")
        }
    }

    @Test("relative paths resolve from the process's cwd and directory descriptors; '..' does not leave the check")
    func relativePaths() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let outside = directory + "/outside", inside = directory + "/inside"
            mkdir(outside, 0o755)
            mkdir(inside, 0o755)
            try MetadataCalls.makeFile(outside + "/file")
            try MetadataCalls.makeFile(inside + "/file")
            let policy = Fixture.basePolicy.with { $0.fsWritable.append(inside) }
            let before = MetadataCalls.snapshot(outside + "/file")
            for call in ["chmod-cwd", "fchmodat-dirfd"] {
                #expect(try await probe(["meta", call, inside + ":../outside/file"], policy: policy) == "EPERM", "\(call) ..")
                #expect(try await probe(["meta", call, outside + ":file"], policy: policy) == "EPERM", "\(call) outside")
                #expect(try await probe(["meta", call, inside + ":file"], policy: policy) == "ok", "control: \(call)")
                #expect(try await probe(["meta", call, outside + ":../inside/file"], policy: policy) == "ok", "control: \(call) via ..")
            }
            #expect(MetadataCalls.snapshot(outside + "/file") == before)
            #expect(MetadataCalls.snapshot(inside + "/file").mode & 0o7777 == 0o604)
        }
    }

    @Test("fs_denied inside a write grant is outside it for metadata too")
    func deniedInsideGrant() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let secret = directory + "/secret"
            try MetadataCalls.makeFile(secret)
            try MetadataCalls.makeFile(directory + "/other")
            let policy = Fixture.basePolicy.with { $0.fsWritable.append(directory); $0.fsDenied.append(secret) }
            let before = MetadataCalls.snapshot(secret)
            #expect(try await probe(["meta", "chmod", secret], policy: policy) == "EPERM")
            #expect(MetadataCalls.snapshot(secret) == before)
            #expect(try await probe(["meta", "chmod", directory + "/other"], policy: policy) == "ok")
        }
    }

    @Test("on behalf grants no more than the sandbox's own rights: a root caller's sandbox cannot chmod another user's file")
    func noCapabilitiesOnBehalf() async throws {
        guard geteuid() == 0 else {
            print("skipped: needs root (to own a file as another user)")
            return
        }
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let foreign = directory + "/foreign"
            try MetadataCalls.makeFile(foreign)
            chown(foreign, 12345, 12345)
            let policy = Fixture.basePolicy.with { $0.fsWritable.append(directory) }
            let before = MetadataCalls.snapshot(foreign)
            // Without CAP_FOWNER/CAP_CHOWN the kernel refuses these to uid 0 (setxattr of
            // user.* needs write permission, which 0644 owned by another user does not give).
            for call in ["chmod", "utimensat", "chown", "chown-other", "fchmod"] {
                #expect(try await probe(["meta", call, foreign], policy: policy) == "EPERM", "\(call) of another user's file")
            }
            for call in ["setxattr", "removexattr"] {
                #expect(try await probe(["meta", call, foreign], policy: policy) == "EACCES", "\(call) of another user's file")
            }
            #expect(MetadataCalls.snapshot(foreign) == before)
            let own = directory + "/own"
            try MetadataCalls.makeFile(own)
            #expect(try await probe(["meta", "chown-other", own], policy: policy) == "EPERM", "giving a file away needs CAP_CHOWN")
        }
    }

    @Test("a root caller's sandbox cannot chmod a host device it may write (the default devices are no write grant)")
    func defaultDevice() async throws {
        guard geteuid() == 0 else {
            print("skipped: needs root (uid 0 owns /dev/full)")
            return
        }
        let device = "/dev/full"
        let mode = MetadataCalls.snapshot(device).mode
        // Restores the host's device should the handler ever let the call through.
        defer { chmod(device, mode & 0o7777) }
        #expect(try await probe(["meta", "chmod", device]) == "EPERM")
        #expect(try await probe(["meta", "fchmod", device]) == "EPERM")
        #expect(MetadataCalls.snapshot(device).mode == mode)
    }

    @Test("setuid and setgid bits are refused even inside a write grant")
    func setuidBits() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let own = directory + "/own"
            try MetadataCalls.makeFile(own)
            let policy = Fixture.basePolicy.with { $0.fsWritable.append(directory) }
            #expect(try await probe(["meta", "chmod-suid", own], policy: policy) == "EPERM")
            #expect(MetadataCalls.snapshot(own).mode & 0o7777 == 0o644)
        }
    }
}
