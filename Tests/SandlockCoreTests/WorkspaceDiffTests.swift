import Foundation
@testable import SandlockCore
import SandlockTestSupport
import Testing

@Suite("Workspace diffs", Fixture.needs(Requirement.workspaces))
struct WorkspaceDiffTests {
    @Test("unified diff: text hunks with context, binary files, new, deleted, renamed and mode-only changes")
    func unifiedDiff() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            try TreeSnapshot.write(["long.txt": (1...20).map { "line \($0)\n" }.joined()], under: tree)
            let script = """
                sed -i -e 's/^line 2$/line two/' -e '/^line 15$/d' long.txt; printf 'a\\000b' > blob.bin
                rm gone.txt; mv old-name.txt new-name.txt; chmod 600 mode.txt; echo hi > new.txt
                """
            let workspace = try Workspace.create(workdir: tree, storage: storage)
            let result = try await Sandbox(policy: workspacePolicy(tree: tree, storage: storage))
                .run(["/bin/sh", "-c", script], workspace: .attached([workspace]))
            #expect(result.success, "\(result.stderrText)")
            let diff = workspace.unifiedDiff(try workspace.changes())
            #expect(diff.contains("""
                diff --git a/long.txt b/long.txt
                --- a/long.txt
                +++ b/long.txt
                @@ -1,5 +1,5 @@
                 line 1
                -line 2
                +line two
                 line 3
                 line 4
                 line 5
                @@ -12,7 +12,6 @@
                 line 12
                 line 13
                 line 14
                -line 15
                 line 16
                 line 17
                 line 18

                """), "\(diff)")
            #expect(diff.contains("diff --git a/blob.bin b/blob.bin\nnew file mode 100644\nBinary files /dev/null and b/blob.bin differ\n"))
            #expect(diff.contains("diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-delete me\n"))
            #expect(diff.contains("diff --git a/old-name.txt b/new-name.txt\nrename from old-name.txt\nrename to new-name.txt\n"))
            #expect(diff.contains("diff --git a/mode.txt b/mode.txt\nold mode 100644\nnew mode 100600\n"))
            #expect(diff.contains("--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+hi\n"))
            try workspace.discard()
        }
    }

    @Test("the line diff is a shortest edit script", arguments: [
        ("a b c", "a c", 1), ("", "x y", 2), ("x y", "", 2), ("a b c d", "a x c d", 2), ("same", "same", 0),
    ])
    func shortestEdits(old: String, new: String, edits: Int) {
        let a = old.split(separator: " "), b = new.split(separator: " ")
        let script = LineDiff.edits(a, b)
        #expect(script.filter { $0 != .keep }.count == edits)
        #expect(script.filter { $0 != .insert }.count == a.count && script.filter { $0 != .delete }.count == b.count)
    }
}
