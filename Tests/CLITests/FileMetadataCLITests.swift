import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// chmod, chown, times and extended attributes as an unprivileged caller (nobody, through
/// setpriv), the original escape: `sandlock run -r … -- chmod 777 <file outside every grant>`.
@Suite("sandlock CLI: file metadata as an unprivileged caller", Fixture.needs(Requirement.sandbox + [.seccompUserNotification]))
struct FileMetadataCLITests {
    private func run(_ arguments: [String], asUser uid: Int?) throws -> String {
        var argv = [Fixture.sandlockCLI, "run"] + Fixture.readablePaths.flatMap { ["-r", $0] } + arguments
        if let uid { argv = ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--"] + argv }
        return try Fixture.runBare(argv).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("the caller's own file outside every write grant keeps its metadata; inside one it changes",
          Fixture.needs(.root))
    func asNobody() throws {
        try Fixture.withTemporaryDirectorySync { directory in
            let nobody = 65534
            let outside = directory + "/outside", inside = directory + "/inside"
            for tree in [outside, inside] {
                mkdir(tree, 0o755)
                try "x".write(toFile: tree + "/file", atomically: false, encoding: .utf8)
                chmod(tree + "/file", 0o644)
                chown(tree, uid_t(nobody), gid_t(nobody))
                chown(tree + "/file", uid_t(nobody), gid_t(nobody))
            }
            for call in ["chmod", "fchmod", "utimensat", "setxattr", "chown", "futimens"] {
                #expect(try run(["-r", outside, "-w", inside, "--", Fixture.probe, "meta", call, outside + "/file"], asUser: nobody) == "EPERM",
                        "\(call) outside the grants as nobody")
                #expect(try run(["-w", inside, "--", Fixture.probe, "meta", call, inside + "/file"], asUser: nobody) == "ok",
                        "control: \(call) inside a write grant as nobody")
            }
            #expect(Files.status(outside + "/file").map { $0.st_mode & 0o7777 } == 0o644)
            // The original report, through /bin/chmod.
            #expect(try run(["--", "/bin/chmod", "777", outside + "/file"], asUser: nobody).isEmpty)
            #expect(Files.status(outside + "/file").map { $0.st_mode & 0o7777 } == 0o644)
        }
    }

    @Test("in a copy-on-write workspace the change lands in the sandbox's overlay, not the real tree",
          Fixture.needs(.userNamespaceForOverlays))
    func workspace() throws {
        try Fixture.withTemporaryDirectorySync { directory in
            let workdir = directory + "/work", storage = directory + "/storage"
            mkdir(workdir, 0o755)
            mkdir(storage, 0o700)
            let file = workdir + "/file"
            try "x".write(toFile: file, atomically: false, encoding: .utf8)
            chmod(file, 0o644)
            let seen = try run(["-w", workdir, "--workdir", workdir, "--fs-storage", storage, "--on-exit", "abort", "--",
                                "/bin/sh", "-c", "chmod 600 \(file) && stat -c %a \(file)"], asUser: nil)
            #expect(seen == "600")
            #expect(Files.status(file).map { $0.st_mode & 0o7777 } == 0o644, "the real tree changed")
        }
    }
}

extension Fixture {
    /// `withTemporaryDirectory` for synchronous bodies.
    static func withTemporaryDirectorySync(_ body: (String) throws -> Void) throws {
        var template = Array("/tmp/sandlock-test-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        chmod(path, 0o777)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(path)
    }
}
