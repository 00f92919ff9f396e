import Foundation
@testable import SandlockCore
import SandlockTestSupport
import Testing

/// Set-ID files reach a copy-on-write upper without any chmod a sandbox could make (the BPF
/// rule refuses those): overlayfs copies a lower file up with its mode when the sandbox links,
/// renames or touches it. A commit strips the bits from every such new version.
@Suite("set-ID bits through overlay copy-up", Fixture.needs(Requirement.workspaces + [.root, .seccompUserNotification]))
struct WorkspaceSetIDTests {
    @Test("a setuid lower file linked, renamed or touched in a workspace is committed without its setuid bit")
    func copyUpStripped() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let (tree, storage) = try makeWorkspaceTree(in: directory)
            for (name, mode) in [("suid-link", 0o4755), ("suid-move", 0o4755), ("sgid-touch", 0o2755), ("plain", 0o755)] as [(String, mode_t)] {
                try FileManager.default.copyItem(atPath: "/bin/true", toPath: tree + "/" + name)
                #expect(chmod(tree + "/" + name, mode) == 0)
            }
            let script = "ln suid-link linked && mv suid-move moved && touch sgid-touch && ln plain plain-linked"
            let policy = workspacePolicy(tree: tree, storage: storage)
            let result = try await Sandbox(policy: policy).run(["/bin/sh", "-c", script])
            #expect(result.success, "\(result.stderrText)")
            #expect(result.workspace?.outcome == .committed)
            let stripped = Dictionary(uniqueKeysWithValues: (result.workspace?.changes?.changes ?? []).map { ($0.path, $0.strippedModeBits) })
            for (name, bits) in [("linked", 0o4000), ("moved", 0o4000), ("sgid-touch", 0o2000)] as [(String, UInt32)] {
                let mode = try #require(Files.status(tree + "/" + name)).st_mode & 0o7777
                #expect(mode == 0o755, "\(name): mode \(String(mode, radix: 8))")
                #expect(stripped[name] == .some(bits), "\(name): stripped \(String(describing: stripped[name]))")
            }
            // Controls: a plain file keeps its mode; the lower setuid file nobody touched keeps its bit.
            #expect(try #require(Files.status(tree + "/plain-linked")).st_mode & 0o7777 == 0o755)
            #expect(try #require(Files.status(tree + "/suid-link")).st_mode & 0o7777 == 0o4755 || stripped["suid-link"] != nil)
        }
    }
}
