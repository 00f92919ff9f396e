import Foundation
@testable import SandlockCore
import SandlockTestSupport
import Testing

@Suite("Copy-on-write workspaces", Fixture.needs(Requirement.workspaces))
struct WorkspaceTests {
    @Test("SHA-256 matches the FIPS 180-4 vectors")
    func sha256() {
        #expect(SHA256.hex(of: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(of: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var hasher = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(chunk) }
        #expect(SHA256.hex(hasher.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("abort leaves the tree byte-identical, modes and mtimes included")
    func abortLeavesTree() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let before = TreeSnapshot.take(tree, times: true)
            let aborting = workspacePolicy(tree: tree, storage: storage).with { $0.onExit = .abort }
            let result = try await Sandbox(policy: aborting).run(["/bin/sh", "-c", workspaceWorkload])
            #expect(result.success, "\(result.stderrText)")
            #expect(result.workspace?.outcome == .aborted)
            #expect(TreeSnapshot.take(tree, times: true) == before)
            #expect(try Directory.entries(atPath: storage) == ["key"])  // only the storage key is left
        }
    }

    @Test("commit applies exactly what the same commands do to a copy of the tree")
    func commitMatchesBareRun() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let copy = directory + "/copy"
            #expect(try Fixture.runBare(["/bin/cp", "-a", tree, copy]).status == 0)
            let bare = try Fixture.runBare(["/bin/sh", "-c", "cd '\(copy)' && PROBE='\(Fixture.probe)' && export PROBE && \(workspaceWorkload)"])
            #expect(bare.status == 0, "\(bare.stderr)")

            let result = try await Sandbox(policy: workspacePolicy(tree: tree, storage: storage)).run(["/bin/sh", "-c", workspaceWorkload])
            #expect(result.success, "\(result.stderrText)")
            #expect(result.workspace?.outcome == .committed)
            #expect(TreeSnapshot.take(tree) == TreeSnapshot.take(copy))
            #expect(try String(contentsOfFile: tree + "/ran.txt", encoding: .utf8) == "script-ran\n")
            #expect(try Directory.entries(atPath: storage) == ["key"])  // only the storage key is left

            #expect(summaryLines(result.workspace?.changes) == workspaceWorkloadSummary)
            let changes = try #require(result.workspace?.changes?.changes)
            let link = try #require(changes.first { $0.path == "link" })
            #expect(link.after?.kind == .symlink && link.after?.target == "target.txt")
            let mode = try #require(changes.first { $0.path == "mode.txt" })
            #expect(mode.before?.mode == 0o644 && mode.after?.mode == 0o600 && mode.before?.sha256 == mode.after?.sha256)
            let truncated = try #require(changes.first { $0.path == "truncate.txt" })
            #expect(truncated.after?.size == 0 && truncated.after?.sha256 == SHA256.hex(of: []))
            #expect(result.workspace?.changes?.json().contains("\"kind\": \"R\", \"path\": \"new-name.txt\", \"from\": \"old-name.txt\"") == true)
        }
    }

    @Test("a dry run reports the changes and leaves the tree alone")
    func dryRun() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let before = TreeSnapshot.take(tree, times: true)
            let result = try await Sandbox(policy: workspacePolicy(tree: tree, storage: storage))
                .run(["/bin/sh", "-c", "echo more >> modify.txt; rm gone.txt; echo new > added.txt"], workspace: .dryRun)
            #expect(result.workspace?.changes?.summary == "A added.txt\nD gone.txt\nM modify.txt\n")
            #expect(result.workspace?.outcome == .aborted)
            #expect(TreeSnapshot.take(tree, times: true) == before)
        }
    }

    @Test("an opaque directory: everything that was below it is deleted, the new contents added")
    func opaqueDirectory() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let result = try await Sandbox(policy: workspacePolicy(tree: tree, storage: storage).with { $0.onExit = .keep })
                .run(["/bin/sh", "-c", "rm -r nested && mkdir nested && echo new > nested/y.txt"])
            let workspace = try #require(result.workspace)
            #expect(workspace.outcome == .kept)
            #expect(workspace.changes?.summary == """
                D nested/a\nD nested/a/b\nD nested/a/b/c\nD nested/a/b/c/deep.txt\nD nested/a/x.txt\nM nested/y.txt\n
                """)
            #expect(Workspace.list(storage: storage).map(\.id) == [workspace.workspace.id])
            #expect(Workspace.list(storage: storage).first?.status == "kept")
            // Committed later, from the storage alone.
            let reopened = try Workspace.open(workspace.workspace.directory)
            let outcome = try reopened.commit()
            #expect(outcome == .committed(changes: 6), "\(outcome)")
            #expect(!FileManager.default.fileExists(atPath: tree + "/nested/a"))
            #expect(try String(contentsOfFile: tree + "/nested/y.txt", encoding: .utf8) == "new\n")
            #expect(Workspace.list(storage: storage).isEmpty)
        }
    }

    @Test("a path the real tree changed during the run is a conflict: nothing applied, workspace kept")
    func conflict() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let signal = directory + "/go", ready = directory + "/ready"
            let script = "echo sandbox >> modify.txt; echo other > added.txt; : > '\(ready)'; for i in $(seq 1000); do [ -e '\(signal)' ] && break; sleep 0.02; done"
            let sandboxPolicy = workspacePolicy(tree: tree, storage: storage).with {
                $0.fsWritable.append(directory)
                $0.timeout = .seconds(30)
            }
            let process = try Sandbox(policy: sandboxPolicy).spawn(["/bin/sh", "-c", script])
            // Change the real file only once the sandbox has written its own version.
            try await waitUntilExists(ready)
            try "line 1\nchanged outside\n".write(toFile: tree + "/modify.txt", atomically: false, encoding: .utf8)
            _ = FileManager.default.createFile(atPath: signal, contents: nil)
            let result = await process.wait()
            let workspace = try #require(result.workspace)
            guard case .conflict(let conflicts) = workspace.outcome else {
                Issue.record("expected a conflict, got \(workspace.outcome)")
                return
            }
            #expect(conflicts.map(\.path) == ["modify.txt"])
            #expect(conflicts.first?.current?.sha256 == SHA256.hex(of: Array("line 1\nchanged outside\n".utf8)))
            #expect(conflicts.first?.sandbox?.sha256 == SHA256.hex(of: Array("line 1\nline 2\nsandbox\n".utf8)))
            #expect(try String(contentsOfFile: tree + "/modify.txt", encoding: .utf8) == "line 1\nchanged outside\n")
            #expect(!FileManager.default.fileExists(atPath: tree + "/added.txt"))
            #expect(Workspace.list(storage: storage).first?.status == "conflict")
            try workspace.workspace.discard()
        }
    }

    @Test("timeouts are failures: on_error decides (keep here), the changes are kept")
    func timeoutFollowsOnError() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let keeping = workspacePolicy(tree: tree, storage: storage).with {
                $0.onError = .keep
                $0.timeout = .milliseconds(500)
            }
            let result = try await Sandbox(policy: keeping).run(["/bin/sh", "-c", "echo late > late.txt; sleep 30"])
            #expect(result.reason == .timeout)
            #expect(result.workspace?.disposition == .keep && result.workspace?.outcome == .kept)
            #expect(result.workspace?.changes?.summary == "A late.txt\n")
            #expect(!FileManager.default.fileExists(atPath: tree + "/late.txt"))
            let committed = try #require(result.workspace?.workspace).commit()
            #expect(committed == .committed(changes: 1))
            #expect(FileManager.default.fileExists(atPath: tree + "/late.txt"))
        }
    }

    @Test("stacked workspaces: a second run sees the first one's upper, its change set is relative to it")
    func stacking() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let base = workspacePolicy(tree: tree, storage: storage)
            let first = try Workspace.create(workdir: tree, storage: storage)
            _ = try await Sandbox(policy: base).run(["/bin/sh", "-c", "echo one > stage1.txt; rm gone.txt; rm -r nested"],
                                                    workspace: .attached([first]))
            let second = try Workspace.create(workdir: tree, stackedOn: [first.upperDirectory], storage: storage)
            let seen = try await Sandbox(policy: base).run(
                ["/bin/sh", "-c", "cat stage1.txt; ls; echo two >> stage1.txt; mkdir nested; echo back > gone.txt"],
                workspace: .attached([second]))
            #expect(seen.stdoutText.hasPrefix("one\n") && !seen.stdoutText.contains("gone.txt"))
            #expect(try second.changes().summary == "A gone.txt\nA nested\nM stage1.txt\n")
            let firstOutcome = try first.commit(), secondOutcome = try second.commit()
            #expect(firstOutcome == .committed(changes: 9), "\(firstOutcome)")
            #expect(secondOutcome == .committed(changes: 3), "\(secondOutcome)")
            #expect(try String(contentsOfFile: tree + "/stage1.txt", encoding: .utf8) == "one\ntwo\n")
            #expect(try String(contentsOfFile: tree + "/gone.txt", encoding: .utf8) == "back\n")
            #expect(try Directory.entries(atPath: tree + "/nested").isEmpty)
        }
    }

    @Test("grants inside the workdir apply to the overlay; writing needs a grant")
    func landlockInsideOverlay() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let readOnly = Fixture.basePolicy.with {
                $0.fsReadable.append(tree)
                $0.fsWritable = [tree + "/sub"]
                $0.workdir = tree
                $0.fsStorage = storage
            }
            let result = try await Sandbox(policy: readOnly).run(
                ["/bin/sh", "-c", "cat untouched.txt; echo no > denied.txt; echo yes > sub/allowed.txt"])
            #expect(result.stdoutText == "same\n")
            #expect(result.stderrText.contains("Permission denied"))
            #expect(result.workspace?.changes?.summary == "A sub/allowed.txt\n")
            #expect(FileManager.default.fileExists(atPath: tree + "/sub/allowed.txt"))
            #expect(!FileManager.default.fileExists(atPath: tree + "/denied.txt"))
        }
    }

    @Test("the workspace storage is hidden from the sandbox, even under a writable grant")
    func storageHidden() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let kept = try Workspace.create(workdir: tree, storage: storage)
            let wide = workspacePolicy(tree: tree, storage: storage).with { $0.fsWritable = [directory] }
            let result = try await Sandbox(policy: wide).run(
                ["/bin/sh", "-c", "ls -A '\(storage)'; echo x > '\(kept.upperDirectory)/planted.txt' || echo refused; echo ok > inside.txt"])
            #expect(result.stdoutText == "refused\n", "\(result.stdoutText) \(result.stderrText)")
            #expect(result.workspace?.outcome == .committed)
            #expect(FileManager.default.fileExists(atPath: tree + "/inside.txt"))
            #expect(try Directory.entries(atPath: kept.upperDirectory).isEmpty)
            try kept.discard()
        }
    }

    @Test("commit never writes through a symlink of the real tree (a directory swapped for one fails with ELOOP)")
    func commitDoesNotFollowSymlinks() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let outside = directory + "/outside"
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            let workspace = try Workspace.create(workdir: tree, storage: storage)
            _ = try await Sandbox(policy: workspacePolicy(tree: tree, storage: storage))
                .run(["/bin/sh", "-c", "echo planted > sub/new.txt; rm sub/keep.txt"], workspace: .attached([workspace]))
            let changes = try workspace.changes()
            #expect(changes.summary == "D sub/keep.txt\nA sub/new.txt\n")
            // The real tree's directory becomes a symlink to a directory outside between the
            // change set and the commit.
            try FileManager.default.moveItem(atPath: tree + "/sub", toPath: outside + "/sub")
            try FileManager.default.createSymbolicLink(atPath: tree + "/sub", withDestinationPath: outside + "/sub")
            let writer = try TreeWriter(tree)
            #expect(throws: Errno(rawValue: ELOOP)) {
                try writer.withParent(of: "sub/new.txt") { (_: borrowing FileDescriptor, _: String) throws(Errno) in }
            }
            // Seen before anything is applied: a conflict on the parent, not a commit stopped half-way.
            let outcome = try workspace.commit(changes)
            guard case .conflict(let conflicts) = outcome, conflicts.map(\.path) == ["sub"] else {
                Issue.record("expected a conflict on sub, got \(outcome)")
                return
            }
            // --force too: a symlinked parent is never followed.
            if case .conflict(let forced) = try workspace.commit(changes, overwriting: true) { #expect(forced.map(\.path) == ["sub"]) } else { Issue.record("forced commit applied") }
            #expect(!FileManager.default.fileExists(atPath: outside + "/sub/new.txt"))
            #expect(FileManager.default.fileExists(atPath: outside + "/sub/keep.txt"))
        }
    }

    @Test("a disabled user namespace setting is named in the error")
    func userNamespaceSettingNamed() {
        let disabled = Workspace.userNamespaceProblem { $0.hasSuffix("max_user_namespaces") ? 0 : nil }
        #expect(disabled?.contains("user.max_user_namespaces is 0") == true)
        let debian = Workspace.userNamespaceProblem { $0.hasSuffix("unprivileged_userns_clone") ? 0 : 100 }
        #expect(debian?.contains("kernel.unprivileged_userns_clone") == true)
        #expect(Workspace.userNamespaceProblem { _ in 100 } == nil)
        let error = SandboxError.kernelFeatureMissing(feature: "Unprivileged user namespaces", detail: disabled ?? "", field: "workdir")
        #expect(error.description.contains("policy field workdir"))
    }
}
