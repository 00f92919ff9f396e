import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// `sandlock run` over a copy-on-write workdir; `uid` runs it through setpriv.
private func sandlockRun(tree: String, storage: String, _ flags: [String], _ script: String,
                         asUser uid: Int? = nil, environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    var argv = [Fixture.sandlockCLI, "run"] + Fixture.readablePaths.flatMap { ["-r", $0] }
        + ["-w", tree, "--workdir", tree, "--fs-storage", storage, "--env", "PROBE=\(Fixture.probe)"] + flags
        + ["--", "/bin/sh", "-c", script]
    if let uid { argv = ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--"] + argv }
    let inherited = ProcessInfo.processInfo.environment.filter { $0.key == "PATH" }
    return try Fixture.runBare(argv, environment: inherited.merging(environment) { $1 })
}

/// The tree the workload leaves when run bare on a copy.
private func expectedAfterWorkload(_ tree: String, in directory: String) throws -> [String: String] {
    let copy = directory + "/expected"
    #expect(try Fixture.runBare(["/bin/cp", "-a", tree, copy]).status == 0)
    let bare = try Fixture.runBare(["/bin/sh", "-c", "cd '\(copy)' && PROBE='\(Fixture.probe)' && export PROBE && \(workspaceWorkload)"])
    #expect(bare.status == 0, "\(bare.stderr)")
    defer { try? FileManager.default.removeItem(atPath: copy) }
    return TreeSnapshot.take(copy)
}

@Suite("sandlock run --workdir", Fixture.needs(Requirement.workspaces + [.seccompUserNotification]))
struct WorkspaceCLITests {
    @Test("--dry-run prints A/M/D/R lines to stderr and leaves the tree alone; the exit code is the command's")
    func dryRun() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let before = TreeSnapshot.take(tree, times: true)
            let result = try sandlockRun(tree: tree, storage: storage, ["--dry-run"],
                                         "echo x >> modify.txt; rm gone.txt; mv old-name.txt renamed.txt; echo n > new.txt; exit 3")
            #expect(result.status == 3)
            #expect(result.stderr.contains("""
                sandlock: dry-run: filesystem changes:
                  D gone.txt
                  M modify.txt
                  A new.txt
                  R old-name.txt -> renamed.txt
                """), "\(result.stderr)")
            #expect(TreeSnapshot.take(tree, times: true) == before)
            let quiet = try sandlockRun(tree: tree, storage: storage, ["--dry-run"], "true")
            #expect(quiet.stderr.contains("sandlock: dry-run: no filesystem changes"))
        }
    }

    @Test("--on-exit and --on-error pick commit, abort or keep by the exit status")
    func dispositions() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            #expect(try sandlockRun(tree: tree, storage: storage, [], "echo a > a.txt; exit 1").status == 1)
            #expect(!FileManager.default.fileExists(atPath: tree + "/a.txt")) // on_error defaults to abort
            #expect(try sandlockRun(tree: tree, storage: storage, ["--on-error", "commit"], "echo b > b.txt; exit 1").status == 1)
            #expect(FileManager.default.fileExists(atPath: tree + "/b.txt"))
            let kept = try sandlockRun(tree: tree, storage: storage, ["--on-exit", "keep"], "echo c > c.txt")
            #expect(kept.status == 0 && kept.stderr.contains("sandlock: workspace kept in \(storage)/"))
            #expect(!FileManager.default.fileExists(atPath: tree + "/c.txt"))
            #expect(Workspace.list(storage: storage).map(\.status) == ["kept"])
            let bad = try sandlockRun(tree: tree, storage: storage, ["--on-exit", "later"], "true")
            #expect(bad.status == 125 && bad.stderr.contains("--on-exit: expected commit, abort or keep, found 'later'"))
        }
    }

    @Test("a conflict names the path and both versions; nothing is applied and the workspace is kept")
    func conflict() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            // The signal sits outside the workdir: the overlay would cache its absence (changes
            // to a lower layer under a mounted overlay are not guaranteed to show).
            let signal = directory + "/go", ready = directory + "/ready"
            let script = "echo sandbox >> modify.txt; echo new > new.txt; : > '\(ready)'; for i in $(seq 1000); do [ -e '\(signal)' ] && break; sleep 0.02; done"
            let background = Task { try sandlockRun(tree: tree, storage: storage, ["-w", directory, "-t", "30s"], script) }
            // Change the real file only once the sandbox has written its own version.
            try await waitUntilExists(ready)
            try "outside\n".write(toFile: tree + "/modify.txt", atomically: false, encoding: .utf8)
            _ = FileManager.default.createFile(atPath: signal, contents: nil)
            let result = try await background.value
            #expect(result.status == 0)
            #expect(result.stderr.contains("sandlock: commit refused: 1 path(s) changed in the real tree during the run; workspace kept in \(storage)/"), "\(result.stderr)")
            #expect(result.stderr.contains("  C modify.txt (changed in the real tree during the run): real tree file 644 8 bytes sha256 "))
            #expect(result.stderr.contains(", sandbox file 644 22 bytes sha256 "))
            #expect(!FileManager.default.fileExists(atPath: tree + "/new.txt"))
            #expect(Workspace.list(storage: storage).map(\.status) == ["conflict"])
        }
    }

    @Test("a commit killed at any step is completed by recovery: the old tree or the new one, never a mix",
          arguments: [-1, 0, 1, 2, 5, 9, 14, 1000])
    func crashDuringCommit(step: Int) async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let old = TreeSnapshot.take(tree)
            let new = try expectedAfterWorkload(tree, in: directory)
            let crashed = try sandlockRun(tree: tree, storage: storage, [], workspaceWorkload,
                                          environment: ["SANDLOCK_FAULT_COMMIT_STEP": String(step)])
            let interrupted = Workspace.list(storage: storage).filter { $0.status == "committing" }
            if step == 1000 {
                #expect(crashed.status == 0 && interrupted.isEmpty)
            } else {
                #expect(crashed.status != 0, "the fault did not fire")
                // Before the journal, nothing was touched; after it, the journal is the record.
                #expect(step == -1 ? TreeSnapshot.take(tree) == old && interrupted.isEmpty : interrupted.count == 1)
            }
            // Recovery: by the API for odd steps, by the next run over the same workdir otherwise.
            if step % 2 != 0 {
                _ = try Workspace.recover(storage: storage)
            } else {
                #expect(try sandlockRun(tree: tree, storage: storage, [], "true").status == 0)
            }
            let after = TreeSnapshot.take(tree)
            #expect(after == (step == -1 ? old : new))
            #expect(Workspace.list(storage: storage).allSatisfy { $0.status != "committing" })
            #expect(!after.keys.contains { $0.contains(".sandlock-commit-") })
        }
    }

    @Test("an unprivileged caller gets the same workspace (user namespace, userxattr)",
          Fixture.needs(.root, .unprivilegedUserNamespaces))
    func unprivileged() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            #expect(try Fixture.runBare(["/bin/chown", "-R", "65534:65534", tree]).status == 0)
            let new = try expectedAfterWorkload(tree, in: directory)
            let before = TreeSnapshot.take(tree, times: true)
            let aborted = try sandlockRun(tree: tree, storage: storage, ["--on-exit", "abort"], "id -u; " + workspaceWorkload, asUser: 65534)
            #expect(aborted.status == 0 && aborted.stdout.hasPrefix("65534\n"), "\(aborted.stdout) \(aborted.stderr)")
            #expect(TreeSnapshot.take(tree, times: true) == before)
            let committed = try sandlockRun(tree: tree, storage: storage, [], workspaceWorkload, asUser: 65534)
            #expect(committed.status == 0, "\(committed.stderr)")
            #expect(TreeSnapshot.take(tree) == new)
            var info = stat()
            #expect(lstat(tree + "/brand/new/file.txt", &info) == 0 && info.st_uid == 65534)
            #expect(Workspace.list(storage: storage).isEmpty)
        }
    }
}
