import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

@Suite("fs_denied carve-outs", Fixture.needs(Requirement.sandbox))
struct DeniedPathTests {
    /// tree/secret (denied), tree/public, tree/sub/file, and a symlink to the secret.
    private func withTree(_ body: (String, Policy) async throws -> Void) async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let tree = directory + "/tree"
            try FileManager.default.createDirectory(atPath: tree + "/sub", withIntermediateDirectories: true)
            try "secret".write(toFile: tree + "/secret", atomically: false, encoding: .utf8)
            try "public".write(toFile: tree + "/public", atomically: false, encoding: .utf8)
            try "file".write(toFile: tree + "/sub/file", atomically: false, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: tree + "/link", withDestinationPath: tree + "/secret")
            let policy = Fixture.basePolicy.with {
                $0.fsWritable.append(tree)
                $0.fsDenied = [tree + "/secret"]
            }
            try await body(tree, policy)
        }
    }

    private func shell(_ script: String, _ policy: Policy) async throws -> RunResult {
        try await Sandbox(policy: policy).run(["/bin/sh", "-c", script])
    }

    @Test("the denied file is unreadable by any spelling; its neighbours stay usable")
    func spellings() async throws {
        try await withTree { (tree: String, policy: Policy) async throws in
            for spelling in [tree + "/secret", tree + "/sub/../secret", tree + "/./secret", tree + "/link"] {
                #expect(try await probe(["read", spelling], policy: policy) == "EACCES", "\(spelling)")
            }
            #expect(try await probe(["read", tree + "/public"], policy: policy) == "ok")
            #expect(try await probe(["read", tree + "/sub/file"], policy: policy) == "ok")
            #expect(try await probe(["create", tree + "/sub/new"], policy: policy) == "ok")
            let listing = try await shell("ls \(tree)", policy)
            #expect(listing.success && listing.stdoutText.contains("public"))
        }
    }

    @Test("hard links, renames and new symlinks cannot reach the denied file")
    func bypasses() async throws {
        try await withTree { (tree: String, policy: Policy) async throws in
            let attempts = [
                "ln \(tree)/secret \(tree)/sub/hard",
                "mv \(tree)/secret \(tree)/sub/moved",
                "mv \(tree)/sub \(tree)/renamed",
                "ln -s \(tree)/secret \(tree)/sub/soft && cat \(tree)/sub/soft",
                "cp \(tree)/secret \(tree)/sub/copy",
            ]
            for attempt in attempts {
                let result = try await shell(attempt, policy)
                #expect(!result.success, "\(attempt) succeeded")
            }
            #expect(try String(contentsOfFile: tree + "/secret", encoding: .utf8) == "secret")
            #expect(!FileManager.default.fileExists(atPath: tree + "/sub/hard"))
            // Control: the same operations inside a granted subtree work. (The denied file's own
            // directory carries listing rights only, so nothing is linked or renamed there.)
            let control = try await shell("ln \(tree)/sub/file \(tree)/sub/hard && mv \(tree)/sub/hard \(tree)/sub/moved && ln -s \(tree)/public \(tree)/sub/soft2 && cat \(tree)/sub/soft2", policy)
            #expect(control.success, "\(control.stderrText)")
        }
    }

    @Test("a denied file with other hard links is refused (its other names would stay reachable)")
    func preexistingHardLink() async throws {
        try await withTree { (tree: String, policy: Policy) async throws in
            try FileManager.default.linkItem(atPath: tree + "/secret", toPath: tree + "/sub/other-name")
            await #expect(throws: SandboxError.self) { try await Sandbox(policy: policy).run(["/bin/true"]) }
        }
    }

    @Test("a denied directory is neither listable nor readable")
    func deniedDirectory() async throws {
        try await withTree { (tree: String, policy: Policy) async throws in
            let denyDirectory = policy.with { $0.fsDenied = [tree + "/sub"] }
            #expect(try await probe(["read", tree + "/sub/file"], policy: denyDirectory) == "EACCES")
            #expect(try await shell("ls \(tree)/sub", denyDirectory).success == false)
            #expect(try await probe(["read", tree + "/secret"], policy: denyDirectory) == "ok")
        }
    }
}
