import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// `sandlock run` as root and as nobody: the storage out of every grant (issue 20, item 5),
/// a commit that cannot be made exits 125 and keeps the workspace with its status (item 14).
@Suite("sandlock run: copy-on-write escapes", Fixture.needs(Requirement.workspaces + [.seccompUserNotification]))
struct WorkspaceEscapeCLITests {
    private func sandlock(_ arguments: [String], asNobody: Bool) throws -> (status: Int32, stdout: String, stderr: String) {
        var argv = [Fixture.sandlockCLI, "run"] + Fixture.readablePaths.flatMap { ["-r", $0] } + arguments
        if asNobody { argv = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] + argv }
        return try Fixture.runBare(argv, environment: ProcessInfo.processInfo.environment.filter { $0.key == "PATH" })
    }

    @Test("a grant covering the storage is refused with exit 125, naming grant, storage and --fs-storage", arguments: [false, true])
    func grantCoveringStorage(asNobody: Bool) async throws {
        if asNobody && !Fixture.isRoot { return }
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            if asNobody { #expect(try Fixture.runBare(["/bin/chown", "-R", "65534:65534", directory]).status == 0) }
            // The storage exists (a copy-on-write run made it).
            let made = try sandlock(["-w", tree, "--workdir", tree, "--fs-storage", storage, "--", "/bin/true"], asNobody: asNobody)
            #expect(made.status == 0, "\(made.stderr)")
            let planted = try sandlock(["-w", directory, "--fs-storage", storage, "--", "/bin/mkdir", storage + "/planted"], asNobody: asNobody)
            #expect(planted.status == 125, "\(planted.stderr)")
            #expect(planted.stderr.contains(storage) && planted.stderr.contains("--fs-storage"), "\(planted.stderr)")
            #expect(!FileManager.default.fileExists(atPath: storage + "/planted"))
            // Positive control: the same command with the storage elsewhere.
            let elsewhere = try sandlock(["-w", directory, "--fs-storage", "/var/tmp/sandlock-escape-test-\(getpid())-\(asNobody)", "--", "/bin/mkdir", tree + "/made"], asNobody: asNobody)
            #expect(elsewhere.status == 0, "\(elsewhere.stderr)")
            try? FileManager.default.removeItem(atPath: "/var/tmp/sandlock-escape-test-\(getpid())-\(asNobody)")
        }
    }

    @Test("a change set the commit cannot install (a FIFO) exits 125 and keeps the workspace with status failed", arguments: [false, true])
    func uncommittable(asNobody: Bool) async throws {
        if asNobody && !Fixture.isRoot { return }
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            if asNobody { #expect(try Fixture.runBare(["/bin/chown", "-R", "65534:65534", directory]).status == 0) }
            let result = try sandlock(["-w", tree, "--workdir", tree, "--fs-storage", storage, "--", "/bin/sh", "-c", "mkfifo pipe; echo ok > ok.txt"], asNobody: asNobody)
            #expect(result.status == 125, "\(result.stderr)")
            #expect(result.stderr.contains("pipe"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: tree + "/ok.txt"))
            // Read as files: the workspace is nobody's, which `Workspace.list` (as root) refuses.
            let kept = try FileManager.default.contentsOfDirectory(atPath: storage).filter { $0 != "key" }
            #expect(kept.count == 1, "\(kept)")
            #expect(kept.first.map { (try? String(contentsOfFile: storage + "/" + $0 + "/status", encoding: .utf8)) == "failed\n" } == true)
            // Positive control: the same run without the FIFO commits and exits 0.
            let fine = try sandlock(["-w", tree, "--workdir", tree, "--fs-storage", storage + "2", "--", "/bin/sh", "-c", "echo ok > ok.txt"], asNobody: asNobody)
            #expect(fine.status == 0, "\(fine.stderr)")
            #expect(FileManager.default.fileExists(atPath: tree + "/ok.txt"))
        }
    }
}
