import Foundation
@testable import SandlockCore
import SandlockTestSupport
import Testing

/// Issue 20, items 5, 13 and 14: what a sandbox (or anyone who can write the workspace storage)
/// must not achieve through copy-on-write, each beside a positive control.
@Suite("Copy-on-write escapes", Fixture.needs(Requirement.workspaces + [.seccompUserNotification]))
struct WorkspaceEscapeTests {
    /// A root-only file outside every grant.
    private func makeSecret(in directory: String) throws -> String {
        let secret = directory + "/secret"
        try FileManager.default.createDirectory(atPath: secret, withIntermediateDirectories: true)
        try "top secret\n".write(toFile: secret + "/key.txt", atomically: false, encoding: .utf8)
        chmod(secret + "/key.txt", 0o600)
        chmod(secret, 0o700)
        return secret
    }

    /// Plants `<storage>/planted`: a workspace record naming `tree`, an upper whose `a` is a
    /// symlink to `secret`, and a journal that installs `a/key.txt` in the tree.
    private func plant(storage: String, tree: String, secret: String) throws {
        let planted = storage + "/planted"
        try FileManager.default.createDirectory(atPath: planted + "/upper", withIntermediateDirectories: true)
        try "version=1\nbackend=overlayfs\nworkdir=\(tree)\ncreated=0\n".write(toFile: planted + "/workspace", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: planted + "/upper/a", withDestinationPath: secret)
        try "sandlock-journal 1\ndirectory\ta\nfile\ta/key.txt\t644\nend\n".write(toFile: planted + "/journal", atomically: false, encoding: .utf8)
    }

    @Test("a journal planted in the storage is never replayed: the next workspace over the tree refuses it, naming it")
    func plantedJournal() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let secret = try makeSecret(in: directory)
            try Workspace.create(workdir: tree, storage: storage).discard()  // the storage exists
            try plant(storage: storage, tree: tree, secret: secret)
            #expect {
                _ = try Workspace.create(workdir: tree, storage: storage)
            } throws: { error in
                "\(error)".contains(storage + "/planted")
            }
            #expect(!FileManager.default.fileExists(atPath: tree + "/a/key.txt"))
            #expect(throws: (any Error).self) { try Workspace.recover(storage: storage) }
            #expect(!FileManager.default.fileExists(atPath: tree + "/a/key.txt"))

            // Positive control: a journal this storage wrote is replayed.
            try FileManager.default.removeItem(atPath: storage + "/planted")
            let genuine = try Workspace.create(workdir: tree, storage: storage)
            try "from the upper\n".write(toFile: genuine.upperDirectory + "/added.txt", atomically: false, encoding: .utf8)
            try genuine.writeJournal([.file("added.txt", mode: 0o644)])
            #expect(genuine.status == "committing")
            _ = try Workspace.create(workdir: tree, storage: storage).discard()
            #expect(try String(contentsOfFile: tree + "/added.txt", encoding: .utf8) == "from the upper\n")
        }
    }

    @Test("a journal naming paths outside its upper and workdir is refused")
    func journalPathsConfined() throws {
        for line in ["file\t../x\t644", "file\t/etc/passwd\t644", "symlink\ta/../../b\tt", "remove\t.", "directory\t", "chmod\ta//b\t755"] {
            #expect(CommitOperation(line: Substring(line)) == nil, "\(line)")
        }
        #expect(CommitOperation(line: "file\ta/b.txt\t644") == .file("a/b.txt", mode: 0o644))
    }

    @Test("a sandbox without a workdir whose grants cover the storage is refused; a narrower grant runs")
    func grantCoveringStorage() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let storage = directory + "/storage"
            try Workspace.create(workdir: try makeWorkspaceTree(in: directory).tree, storage: storage).discard()
            // Write grants only: a read grant cannot plant (docs/security.md lists the read leak).
            for grant in [\Policy.fsWritable] {
                let policy = Fixture.basePolicy.with {
                    $0[keyPath: grant].append(directory)
                    $0.fsStorage = storage
                }
                await #expect {
                    _ = try await Sandbox(policy: policy).run(["/bin/sh", "-c", "mkdir '\(storage)/planted'"])
                } throws: { error in
                    let text = "\(error)"
                    return text.contains(directory) && text.contains(storage) && text.contains("--fs-storage")
                }
                #expect(!FileManager.default.fileExists(atPath: storage + "/planted"))
            }
            // Positive control: a grant beside the storage.
            let narrow = Fixture.basePolicy.with {
                $0.fsWritable = [directory + "/tree"]
                $0.fsStorage = storage
            }
            let result = try await Sandbox(policy: narrow).run(["/bin/sh", "-c", "echo ok > '\(directory)/tree/ok.txt'"])
            #expect(result.success, "\(result.stderrText)")
        }
    }

    @Test("Policy.validate names a grant that reaches fs_storage (no workdir), and accepts one beside it")
    func validationRule() {
        let exposed = Fixture.basePolicy.with { $0.fsWritable = ["/var/tmp"]; $0.fsStorage = "/var/tmp/sandlock-cow-test" }
        #expect(exposed.violations().contains { $0.field == "fs_storage" && $0.message.contains("'/var/tmp'") && $0.message.contains("--fs-storage") })
        let inside = Fixture.basePolicy.with { $0.fsWritable.append("/var/tmp/sandlock-cow-test/x"); $0.fsStorage = "/var/tmp/sandlock-cow-test" }
        #expect(inside.violations().contains { $0.field == "fs_storage" && $0.message.contains("lies inside") })
        #expect(Fixture.basePolicy.with { $0.fsStorage = "relative/storage" }.violations().contains { $0.field == "fs_storage" })
        // Positive controls: a grant beside the storage; a workdir (the overlay hides the storage).
        #expect(Fixture.basePolicy.with { $0.fsWritable = ["/var/tmp/other"]; $0.fsStorage = "/var/tmp/sandlock-cow-test" }.violations().isEmpty)
        #expect(exposed.with { $0.workdir = "/var/tmp/project" }.violations().isEmpty)
    }

    @Test("setuid and setgid bits never leave a sandbox through a commit")
    func setuidStripped() async throws {
        // Two layers: the seccomp filter refuses a chmod that sets them (EPERM), and a commit
        // strips any that reach an upper anyway (ChangeSet.strippedModeBits). A sandbox can
        // only meet the first; the script proves it and goes on with plain modes.
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let script = "cp /bin/true suid && ! chmod 6755 suid 2>/dev/null && chmod 755 suid && cp /bin/true plain && chmod 755 plain && mkdir sg && ! chmod 2775 sg 2>/dev/null && chmod 775 sg"
            let result = try await Sandbox(policy: workspacePolicy(tree: tree, storage: storage)).run(["/bin/sh", "-c", script])
            #expect(result.success, "\(result.stderrText)")
            #expect(result.workspace?.outcome == .committed)
            let suid = try #require(Files.status(tree + "/suid")), plain = try #require(Files.status(tree + "/plain"))
            #expect(suid.st_mode & 0o7777 == 0o755)
            #expect(plain.st_mode & 0o7777 == 0o755)  // positive control
            #expect(try #require(Files.status(tree + "/sg")).st_mode & 0o7777 == 0o775)
        }
    }

    @Test("a parent of an added file replaced by a symlink, or removed, in the real tree is a conflict: nothing applied, later runs unaffected")
    func parentChangedUnderCommit() async throws {
        for tamper in ["symlink", "remove"] {
            try await Fixture.withTemporaryDirectory { (directory: String) async throws in
                let (tree, storage) = try makeWorkspaceTree(in: directory)
                let elsewhere = directory + "/elsewhere"
                try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
                let keeping = workspacePolicy(tree: tree, storage: storage).with { $0.onExit = .keep }
                let result = try await Sandbox(policy: keeping).run(["/bin/sh", "-c", "echo new > sub/new.txt && echo top > top.txt"])
                #expect(result.success, "\(result.stderrText)")
                let workspace = try #require(result.workspace?.workspace)
                try FileManager.default.removeItem(atPath: tree + "/sub")
                if tamper == "symlink" { try FileManager.default.createSymbolicLink(atPath: tree + "/sub", withDestinationPath: elsewhere) }
                // The change set of the run (as the runner commits it): `sub` is no change, only a parent.
                let outcome = try workspace.commit(result.workspace?.changes)
                guard case .conflict(let conflicts) = outcome else {
                    Issue.record("\(tamper): expected a conflict, got \(outcome)")
                    return
                }
                #expect(conflicts.contains { $0.path == "sub" }, "\(conflicts)")
                #expect(!FileManager.default.fileExists(atPath: elsewhere + "/new.txt"))
                #expect(!FileManager.default.fileExists(atPath: tree + "/top.txt"))  // nothing applied
                #expect(workspace.status == "conflict")
                // Positive control: later copy-on-write runs over the tree work.
                let next = try await Sandbox(policy: workspacePolicy(tree: tree, storage: storage)).run(["/bin/sh", "-c", "echo later > later.txt"])
                #expect(next.workspace?.outcome == .committed, "\(next.stderrText)")
            }
        }
    }

    @Test("a journal whose next operation cannot apply is set aside with its reason; it does not block later runs")
    func stuckJournalSetAside() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let elsewhere = directory + "/elsewhere"
            try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
            let stuck = try Workspace.create(workdir: tree, storage: storage)
            try FileManager.default.createDirectory(atPath: stuck.upperDirectory + "/sub", withIntermediateDirectories: true)
            try "x\n".write(toFile: stuck.upperDirectory + "/sub/new.txt", atomically: false, encoding: .utf8)
            try stuck.writeJournal([.file("sub/new.txt", mode: 0o644)])
            try FileManager.default.removeItem(atPath: tree + "/sub")
            try FileManager.default.createSymbolicLink(atPath: tree + "/sub", withDestinationPath: elsewhere)
            #expect(throws: (any Error).self) { try Workspace.recover(storage: storage, workdir: Workspace.canonicalPath(tree)) }
            #expect(stuck.status == "failed")
            #expect(!FileManager.default.fileExists(atPath: elsewhere + "/new.txt"))
            // Later runs are not blocked by it.
            let next = try await Sandbox(policy: workspacePolicy(tree: tree, storage: storage)).run(["/bin/sh", "-c", "echo later > later.txt"])
            #expect(next.workspace?.outcome == .committed, "\(next.stderrText)")
        }
    }

    @Test("a change set entry that cannot be read (an upper path past PATH_MAX) fails the commit and keeps the workspace")
    func longUpperPath() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            // Deep enough that tree/<deep> fits PATH_MAX but storage/<id>/upper/<deep> does not.
            var remaining = 4090 - tree.utf8.count - 1 - "/moved.txt".utf8.count
            var components: [String] = []
            while remaining > 201 {
                components.append(String(repeating: "d", count: 200))
                remaining -= 201
            }
            components.append(String(repeating: "e", count: remaining))
            let deep = components.joined(separator: "/")
            let script = "mkdir -p '\(deep)' && cd '\(deep)' && mv '\(tree)/untouched.txt' moved.txt"
            let result = try await Sandbox(policy: workspacePolicy(tree: tree, storage: storage)).run(["/bin/sh", "-c", script])
            #expect(result.success, "\(result.stderrText)")
            guard case .failed(let message)? = result.workspace?.outcome else {
                Issue.record("expected a failed commit, got \(String(describing: result.workspace?.outcome))")
                return
            }
            #expect(message.contains("ENAMETOOLONG"), "\(message)")
            #expect(FileManager.default.fileExists(atPath: tree + "/untouched.txt"))
            #expect(result.workspace?.workspace.status == "failed")
        }
    }

    @Test("a FIFO or a non-UTF-8 name fails the commit and keeps the workspace with status failed")
    func specialEntries() async throws {
        for script in ["mkfifo pipe", "touch \"$(printf 'bad\\377name')\""] {
            try await Fixture.withTemporaryDirectory { (directory: String) async throws in
                let (tree, storage) = try makeWorkspaceTree(in: directory)
                let result = try await Sandbox(policy: workspacePolicy(tree: tree, storage: storage)).run(["/bin/sh", "-c", script + " && echo ok > ok.txt"])
                #expect(result.success, "\(result.stderrText)")
                guard case .failed? = result.workspace?.outcome else {
                    Issue.record("\(script): expected a failed commit, got \(String(describing: result.workspace?.outcome))")
                    return
                }
                #expect(result.workspace?.workspace.status == "failed", "\(script)")
                #expect(!FileManager.default.fileExists(atPath: tree + "/ok.txt"))
            }
        }
    }
}
