import Foundation
@testable import SandlockCore
import SandlockTestSupport
import Testing

/// What a job runner does with uppers: merging the uppers of processes that ran side by side
/// or one after the other, directories made before a run, convergent and forced commits.
@Suite("Workspace merges", Fixture.needs(Requirement.workspaces))
struct WorkspaceMergeTests {
    /// Runs `script` in a sandbox over `workspace` (the tree and the probe readable, the tree writable).
    func run(_ script: String, over workspaces: [Workspace], writable: [String]? = nil) async throws -> RunResult {
        let policy = Fixture.basePolicy.with {
            $0.fsReadable += workspaces.map(\.workdir)
            $0.fsWritable = writable ?? workspaces.map(\.workdir)
        }
        return try await Sandbox(policy: policy).run(["/bin/sh", "-c", script], workspace: .attached(workspaces))
    }

    @Test("side by side: the union, a replaced directory stays replaced beside another's additions; the same change twice is no conflict")
    func besideMerge() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let stage = try Workspace.create(workdir: tree, storage: storage)
            let left = try Workspace.create(workdir: tree, storage: storage)
            let right = try Workspace.create(workdir: tree, storage: storage)
            // left replaces nested/a (its old files are gone), right adds a file to nested/a.
            #expect(try await run("set -e; rm -r nested/a; mkdir nested/a; echo l > nested/a/left.txt; mkdir -p shared; echo s > shared/same.txt", over: [left]).success)
            #expect(try await run("set -e; echo r > nested/a/right.txt; mkdir -p shared; echo s > shared/same.txt; echo r > modify.txt", over: [right]).success)
            let leftChanges = try left.changes(), rightChanges = try right.changes()
            #expect(leftChanges.conflicts(with: rightChanges).isEmpty, "the same directory and bytes, and different paths")
            try stage.absorb(left, order: .beside(leftChanges))
            try stage.absorb(right, order: .beside(rightChanges))
            let merged = Set(try stage.changes().changes.map(\.summaryLine))
            #expect(merged == ["D nested/a/b", "D nested/a/b/c", "D nested/a/b/c/deep.txt", "D nested/a/x.txt",
                               "A nested/a/left.txt", "A nested/a/right.txt", "A shared", "A shared/same.txt", "M modify.txt"])
            #expect(!FileManager.default.fileExists(atPath: left.directory) && !FileManager.default.fileExists(atPath: right.directory))

            // A different version of the same path is a conflict (positive control above).
            let other = try Workspace.create(workdir: tree, storage: storage)
            #expect(try await run("echo other > modify.txt", over: [other]).success)
            #expect(try other.changes().conflicts(with: rightChanges) == ["modify.txt"])
            try other.discard()
            try stage.discard()
        }
    }

    @Test("side by side: deleting or replacing a directory while another run writes below it is a conflict, either way round")
    func deleteBesideWriteBelow() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let runs = try (0..<4).map { _ in try Workspace.create(workdir: tree, storage: storage) }
            #expect(try await run("rm -r nested/a", over: [runs[0]]).success)
            #expect(try await run("echo new > nested/a/new.txt", over: [runs[1]]).success)
            #expect(try await run("rm -r sub && echo file > sub", over: [runs[2]]).success)
            #expect(try await run("echo new > sub/new.txt", over: [runs[3]]).success)
            let removed = try runs[0].changes(), writtenBelow = try runs[1].changes()
            let replaced = try runs[2].changes(), writtenInSub = try runs[3].changes()
            #expect(writtenBelow.conflicts(with: removed) == ["nested/a"])
            #expect(removed.conflicts(with: writtenBelow) == ["nested/a"])
            #expect(writtenInSub.conflicts(with: replaced) == ["sub"])
            #expect(replaced.conflicts(with: writtenInSub) == ["sub"])
            #expect(replaced.conflicts(with: removed).isEmpty && writtenInSub.conflicts(with: writtenBelow).isEmpty,
                    "disjoint trees: the positive control")
            for workspace in runs { try workspace.discard() }
        }
    }

    @Test("one after the other: the later run's replaced directory and deletions win over the earlier upper")
    func afterMerge() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let stage = try Workspace.create(workdir: tree, storage: storage)
            let first = try Workspace.create(workdir: tree, storage: storage)
            #expect(try await run("set -e; mkdir out; echo 1 > out/one.txt; echo 2 > out/two.txt", over: [first]).success)
            try stage.absorb(first, order: .after)
            // The second run sees the first's files (stacked on the stage's upper).
            let second = try Workspace.create(workdir: tree, stackedOn: [stage.upperDirectory], storage: storage)
            let result = try await run("set -e; cat out/one.txt; rm out/two.txt; rm -r dir-a; mkdir dir-a; echo new > dir-a/only.txt", over: [second])
            #expect(result.success && result.stdoutText == "1\n", "\(result.stderrText)")
            try stage.absorb(second, order: .after)
            let merged = Set(try stage.changes().changes.map(\.summaryLine))
            #expect(merged == ["A out", "A out/one.txt", "D dir-a/one.txt", "D dir-a/two", "D dir-a/two/three.txt", "A dir-a/only.txt"])
            try stage.discard()
        }
    }

    @Test("side by side: a chmod survives another run's copy-up of the same directory, in either merge order")
    func besideKeepsModes() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            for chmodFirst in [true, false] {
                let stage = try Workspace.create(workdir: tree, storage: storage)
                let chmodder = try Workspace.create(workdir: tree, storage: storage)
                let writer = try Workspace.create(workdir: tree, storage: storage)
                #expect(try await run("chmod 700 dir-a", over: [chmodder]).success)
                #expect(try await run("echo new > dir-a/new.txt", over: [writer]).success)
                let chmodded = try chmodder.changes(), written = try writer.changes()
                #expect(chmodded.conflicts(with: written).isEmpty)
                for (workspace, changes) in chmodFirst ? [(chmodder, chmodded), (writer, written)] : [(writer, written), (chmodder, chmodded)] {
                    try stage.absorb(workspace, order: .beside(changes))
                }
                #expect(Set(try stage.changes().changes.map(\.summaryLine)) == ["M dir-a", "A dir-a/new.txt"], "chmod first: \(chmodFirst)")
                try stage.discard()
            }
        }
    }

    @Test("side by side: a run that only copied a path up (touch, a lock file made and removed) never undoes another's change")
    func besideCopyUpsYield() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            for changerFirst in [true, false] {
                let stage = try Workspace.create(workdir: tree, storage: storage)
                let changer = try Workspace.create(workdir: tree, storage: storage)
                let toucher = try Workspace.create(workdir: tree, storage: storage)
                #expect(try await run("echo changed > modify.txt; rm -r dir-a", over: [changer]).success)
                #expect(try await run("touch modify.txt; touch dir-a/.lock; rm dir-a/.lock", over: [toucher]).success)
                let changed = try changer.changes(), touched = try toucher.changes()
                #expect(touched.isEmpty, "copy-ups are no changes: \(touched.summary)")
                let order = changerFirst ? [(changer, changed), (toucher, touched)] : [(toucher, touched), (changer, changed)]
                for (workspace, changes) in order { try stage.absorb(workspace, order: .beside(changes)) }
                #expect(try stage.changes().changes.map(\.summaryLine)
                    == ["D dir-a", "D dir-a/one.txt", "D dir-a/two", "D dir-a/two/three.txt", "M modify.txt"], "changer first: \(changerFirst)")
                try stage.discard()
            }
        }
    }

    @Test("one after the other: a directory made again where the earlier run deleted it hides the old contents")
    func afterRecreatedDirectory() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let stage = try Workspace.create(workdir: tree, storage: storage)
            let first = try Workspace.create(workdir: tree, storage: storage)
            #expect(try await run("rm -r dir-a", over: [first]).success)
            try stage.absorb(first, order: .after)
            let second = try Workspace.create(workdir: tree, stackedOn: [stage.upperDirectory], storage: storage)
            let result = try await run("ls dir-a 2>/dev/null; mkdir dir-a && echo n > dir-a/n.txt && ls dir-a", over: [second])
            #expect(result.success && result.stdoutText == "n.txt\n", "\(result.stdoutText) \(result.stderrText)")
            try stage.absorb(second, order: .after)
            #expect(Set(try stage.changes().changes.map(\.summaryLine))
                == ["D dir-a/one.txt", "D dir-a/two", "D dir-a/two/three.txt", "A dir-a/n.txt"])
            try stage.discard()
        }
    }

    @Test("a layered view reads and globs like the stacked sandbox sees the tree; a symlink on the way defers to glob(3)")
    func layeredView() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let tree = directory + "/view"
            try TreeSnapshot.write(["a/x.txt": "x\n", "a/y.txt": "y\n", "a/.hidden.txt": "h\n", "b/keep": "k\n"], under: tree)
            try FileManager.default.createSymbolicLink(atPath: tree + "/link", withDestinationPath: "a")
            let workspace = try Workspace.create(workdir: tree, storage: directory + "/storage")
            #expect(try await run("rm a/x.txt && echo z > a/z.txt", over: [workspace]).success)
            let view = LayeredView(tree: tree, layers: [workspace.upperDirectory])
            #expect(view.glob(tree + "/a/*.txt") == [tree + "/a/y.txt", tree + "/a/z.txt"], "deleted and hidden files left out")
            #expect(view.glob(tree + "/a/.*.txt") == [tree + "/a/.hidden.txt"])
            #expect(view.glob(tree + "/*/") == [tree + "/a/", tree + "/b/"])
            #expect(view.glob(tree + "/link/*.txt") == nil)
            #expect(view.contents(of: tree + "/a/x.txt") == nil && !view.exists(tree + "/a/x.txt"))
            #expect(view.contents(of: tree + "/a/z.txt") == Array("z\n".utf8))
            try workspace.discard()
        }
    }

    @Test("a write grant on a directory that exists only in the workspace: created before the run, granted, and listed")
    func directoryMadeInUpper() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let workspace = try Workspace.create(workdir: tree, storage: storage)
            try workspace.makeDirectory("out/deep")
            let result = try await run("echo x > out/deep/x.txt", over: [workspace],
                                       writable: [tree + "/out/deep"])
            #expect(result.success, "\(result.stderrText)")
            #expect(!FileManager.default.fileExists(atPath: tree + "/out"), "the real tree does not get it")
            #expect(Set(try workspace.changes().changes.map(\.summaryLine)) == ["A out", "A out/deep", "A out/deep/x.txt"])
            // Only the new directory is writable (the grant was not widened to the workdir).
            let denied = try await run("echo y > untouched.txt", over: [workspace], writable: [tree + "/out/deep"])
            #expect(!denied.success && denied.stderrText.contains("Permission denied"))
            try workspace.discard()

            // Without the directory in the upper, the missing path is an error naming it.
            let bare = try Workspace.create(workdir: tree, storage: storage)
            await #expect(throws: SandboxError.self) {
                _ = try await run("true", over: [bare], writable: [tree + "/nothing-here"])
            }
            try bare.discard()
        }
    }

    @Test("commit: a real tree that already has the sandbox's version is no conflict; --force overwrites a real one")
    func convergentAndForcedCommit() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let workspace = try Workspace.create(workdir: tree, storage: storage)
            #expect(try await run("echo same > modify.txt; echo ours > untouched.txt", over: [workspace]).success)
            let changes = try workspace.changes()
            #expect(changes.changes.map(\.summaryLine) == ["M modify.txt", "M untouched.txt"])
            try "same\n".write(toFile: tree + "/modify.txt", atomically: true, encoding: .utf8)
            try "theirs\n".write(toFile: tree + "/untouched.txt", atomically: true, encoding: .utf8)
            guard case .conflict(let conflicts) = try workspace.commit(changes) else {
                Issue.record("untouched.txt changed in the real tree: expected a conflict")
                return
            }
            #expect(conflicts.map(\.path) == ["untouched.txt"], "modify.txt already is what the sandbox wrote")
            #expect(try String(contentsOfFile: tree + "/untouched.txt", encoding: .utf8) == "theirs\n")
            #expect(try workspace.commit(changes, overwriting: true) == .committed(changes: 2))
            #expect(try String(contentsOfFile: tree + "/untouched.txt", encoding: .utf8) == "ours\n")
        }
    }
}

extension ChangeSet {
    /// The paths where two side-by-side runs disagree, as the runner's `TouchedPaths` finds them.
    func conflicts(with other: ChangeSet) -> [String] {
        var earlier = TouchedPaths()
        earlier.add(other, by: "the other run")
        return earlier.clashes(with: self).map(\.path)
    }
}
