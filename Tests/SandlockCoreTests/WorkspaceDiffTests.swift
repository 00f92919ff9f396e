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

    @Test("the line diff is as short as the longest common subsequence allows, on random inputs")
    func minimalOnRandomInputs() {
        var random = SplitMix64(state: 19)
        for _ in 0..<300 {
            let a = (0..<Int(random.next() % 40)).map { _ in Substring(String(random.next() % 5)) }
            let b = (0..<Int(random.next() % 40)).map { _ in Substring(String(random.next() % 5)) }
            let script = LineDiff.edits(a, b)
            // Replaying the script turns a into b.
            var x = 0, y = 0, replayed: [Substring] = []
            for edit in script {
                switch edit {
                case .keep: #expect(a[x] == b[y]); replayed.append(a[x]); x += 1; y += 1
                case .delete: x += 1
                case .insert: replayed.append(b[y]); y += 1
                }
            }
            #expect(x == a.count && replayed == b)
            #expect(script.filter { $0 == .keep }.count == Self.longestCommonSubsequence(a, b), "\(a) \(b)")
        }
    }

    @Test("a 12,000-line added file, a rewritten one and one with every tenth line edited are diffed in flat memory")
    func largeFilesInFlatMemory() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            let old = (1...12_000).map { "old \($0)\n" }.joined()
            try TreeSnapshot.write(["rewritten.txt": old, "edited.txt": old], under: tree)
            let script = "seq 12000 > added.txt; seq 12000 | sed 's/^/new /' > rewritten.txt; seq 12000 | sed -e 's/^/old /' -e '10~10s/^old/new/' > edited.txt"
            let workspace = try Workspace.create(workdir: tree, storage: storage)
            let result = try await Sandbox(policy: workspacePolicy(tree: tree, storage: storage))
                .run(["/bin/sh", "-c", script], workspace: .attached([workspace]))
            #expect(result.success, "\(result.stderrText)")
            let before = Self.peakResidentBytes()
            let diff = workspace.unifiedDiff(try workspace.changes())
            let growth = Self.peakResidentBytes() - before
            print("diff of 12,000-line added, rewritten and edited files: peak RSS grew by \(growth / 1024) KiB (\(before / 1_048_576) MiB before)")
            // Quadratic space took 2.27 GB for the added file alone.
            #expect(growth < 256 << 20)
            #expect(diff.contains("--- /dev/null\n+++ b/added.txt\n@@ -0,0 +1,12000 @@\n+1\n+2\n"))
            #expect(diff.contains("--- a/rewritten.txt\n+++ b/rewritten.txt\n@@ -1,12000 +1,12000 @@\n-old 1\n"))
            #expect(diff.contains("--- a/edited.txt\n+++ b/edited.txt\n@@ -7,7 +7,7 @@\n old 7\n old 8\n old 9\n-old 10\n+new 10\n old 11\n"))
            #expect(diff.contains("@@ -11997,4 +11997,4 @@\n old 11997\n old 11998\n old 11999\n-old 12000\n+new 12000\n"))
            #expect(diff.components(separatedBy: "\n+new ").count - 1 == 12_000 + 1_200)
            // Above the limit, a file's diff is one line.
            let capped = workspace.unifiedDiff(try workspace.changes(), lineLimit: 1_000)
            #expect(capped.contains("--- /dev/null\n+++ b/added.txt\n12000 lines changed (a diff is shown up to 1000 lines per file"), "\(capped.prefix(2000))")
            #expect(capped.contains("--- a/rewritten.txt\n+++ b/rewritten.txt\n24000 lines changed"))
            #expect(!capped.contains("+new 1\n"))
            try workspace.discard()
        }
    }

    static func longestCommonSubsequence(_ a: [Substring], _ b: [Substring]) -> Int {
        var row = [Int](repeating: 0, count: b.count + 1)
        for x in a {
            var diagonal = 0
            for (j, y) in b.enumerated() {
                let above = row[j + 1]
                row[j + 1] = x == y ? diagonal + 1 : max(row[j + 1], row[j])
                diagonal = above
            }
        }
        return row[b.count]
    }

    /// This process's peak resident set (getrusage), in bytes.
    static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return usage.ru_maxrss * 1024
    }
}
