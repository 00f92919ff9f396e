import Foundation
import SandlockCore
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// Issue 19: each shard of a fan-out over paths may read its own item, and only that one,
/// though the stage grants none of the dataset.
@Suite("Per-shard read grants", needsWorkspaces)
struct ShardGrantTests {
    /// `data/a.txt` and `data/b.txt` in the job's workdir.
    static func dataset(_ job: RunnerJob) throws {
        try job.write("data/a.txt", "alpha\n")
        try job.write("data/b.txt", "beta\n")
    }

    /// A worker that prints its own item, then tries the other one.
    static func worker(_ job: RunnerJob) -> String {
        let a = job.directory + "/data/a.txt", b = job.directory + "/data/b.txt"
        return """
            cat "$SANDLOCK_ITEM" || echo "own item unreadable"
                    for f in \(a) \(b); do [ "$f" = "$(realpath -m "$SANDLOCK_ITEM")" ] && continue; cat "$f" 2>/dev/null && echo LEAK || echo "other denied"; done
            """
    }

    @Test("glob: and lines: shards read their own item and are denied the other's, with and without a workspace")
    func ownItemOnly() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try Self.dataset(job)
        try job.write("list.txt", "data/a.txt\ndata/b.txt\n")
        let worker = Self.worker(job)
        let (run, stages, directory) = try await job.run("""
            stages:
              globbed:
                map: { over: { glob: "data/*.txt" } }
                run: |
                  \(worker)
              listed:
                map: { over: { lines: list.txt } }
                run: |
                  \(worker)
              written:
                map: { over: { glob: "data/*.txt" } }
                policy: { extends: sys, filesystem: { write: [out] } }
                run: |
                  \(worker)
                  cp "$SANDLOCK_ITEM" out/
            """)
        #expect(run.status == .succeeded, "\(stages.mapValues { $0.message ?? $0.reasonText })")
        for stage in ["globbed", "listed", "written"] {
            #expect(contents(directory.shardDirectory(stage, 0) + "/stdout.log") == "alpha\nother denied\n", "\(stage)")
            #expect(contents(directory.shardDirectory(stage, 1) + "/stdout.log") == "beta\nother denied\n", "\(stage)")
        }
        #expect(job.read("out/a.txt") == "alpha\n" && job.read("out/b.txt") == "beta\n")
    }

    @Test("an item that leads out of the fan-out's root (a symlink) or into the runner's files fails its shard unstarted; a symlink inside the root is granted")
    func symlinkedItemRefused() async throws {
        let job = try RunnerJob(), home = try RunnerJob()
        defer { job.remove(); home.remove() }
        try Self.dataset(job)
        try home.write("secret.txt", "top secret\n")
        try FileManager.default.createSymbolicLink(atPath: job.directory + "/data/evil.txt", withDestinationPath: home.directory + "/secret.txt")
        try FileManager.default.createSymbolicLink(atPath: job.directory + "/data/alias.txt", withDestinationPath: "a.txt")
        try job.write("list.txt", "data/b.txt\n.sandlock-jobs\n")
        let (_, stages, directory) = try await job.run("""
            stages:
              globbed:
                map: { over: { glob: "data/*.txt" } }
                allow_failures: 1
                run: cat "$SANDLOCK_ITEM"
              listed:
                map: { over: { lines: list.txt } }
                allow_failures: 1
                run: ls "$SANDLOCK_ITEM" > /dev/null && echo listed
            """, options: RunOptions(jobs: 2, keepGoing: true))
        let shards = Dictionary(directory.readShardRecords("globbed").map { (($0.item as NSString).lastPathComponent, $0) }, uniquingKeysWith: { _, last in last })
        let output = { (name: String) in shards[name].map { contents(directory.shardDirectory("globbed", $0.shard) + "/stdout.log") } }
        #expect(shards.mapValues(\.status) == ["a.txt": .succeeded, "alias.txt": .succeeded, "b.txt": .succeeded, "evil.txt": .failed], "\(shards)")
        let refusal = shards["evil.txt"]?.attempts.last
        #expect(refusal?.reason == .spawnFailed)
        #expect(refusal?.message?.contains("leads to '\(Runner.canonical(home.directory))/secret.txt'") == true, "\(String(describing: refusal?.message))")
        #expect(output("evil.txt")?.contains("secret") == false)
        // Positive controls: the symlink inside the root and the plain items.
        #expect(output("alias.txt") == "alpha\n" && output("a.txt") == "alpha\n" && output("b.txt") == "beta\n")
        #expect(stages["globbed"]?.status == .succeeded)

        let listed = directory.readShardRecords("listed").sorted { $0.shard < $1.shard }
        #expect(listed.map(\.status) == [.succeeded, .failed], "\(listed)")
        #expect(listed.last?.attempts.last?.message?.contains("runner's own files") == true, "\(listed)")
        #expect(contents(directory.shardDirectory("listed", 0) + "/stdout.log") == "listed\n")
    }

    @Test("filesystem.deny wins over the per-shard grant: the denied item's shard cannot read it, the others can")
    func denyWins() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try Self.dataset(job)
        let (_, _, directory) = try await job.run("""
            stages:
              fan:
                map: { over: { glob: "data/*.txt" } }
                policy: { extends: sys, filesystem: { deny: [data/b.txt] } }
                allow_failures: 1
                run: cat "$SANDLOCK_ITEM"
            """, options: RunOptions(jobs: 2, keepGoing: true))
        let shards = directory.readShardRecords("fan").sorted { $0.shard < $1.shard }
        #expect(shards.first?.status == .succeeded && contents(directory.shardDirectory("fan", 0) + "/stdout.log") == "alpha\n", "\(shards)")
        #expect(shards.last?.status == .failed, "\(shards)")
        #expect(!contents(directory.shardDirectory("fan", 1) + "/stdout.log").contains("beta"))
    }

    @Test("dry run: an item only an upstream stage would write is granted through the view; a symlink it would write is refused")
    func dryRunItemsThroughTheView() async throws {
        let job = try RunnerJob(), home = try RunnerJob()
        defer { job.remove(); home.remove() }
        try home.write("secret.txt", "top secret\n")
        let (_, stages, directory) = try await job.run("""
            stages:
              gen:
                policy: { extends: sys, filesystem: { write: [out] } }
                run: echo one > out/one.txt && ln -s \(home.directory)/secret.txt out/two.txt
              fan:
                needs: [gen]
                map: { over: { glob: "out/*.txt" } }
                allow_failures: 1
                run: cat "$SANDLOCK_ITEM"
            """, options: RunOptions(jobs: 2, dryRun: true))
        let shards = directory.readShardRecords("fan").sorted { $0.shard < $1.shard }
        #expect(shards.map(\.status) == [.succeeded, .failed], "\(shards) \(stages.mapValues { $0.message ?? "" })")
        #expect(shards.last?.attempts.last?.message?.contains("symlink") == true)
        #expect(contents(directory.shardDirectory("fan", 0) + "/stdout.log") == "one\n")
        #expect(!contents(directory.shardDirectory("fan", 1) + "/stdout.log").contains("secret"))
    }
}

@Suite struct ShardGrantPlanTests {
    @Test("plan says what each shard may read and warns at a grant of the whole item root; grants above the workdir do not warn")
    func planAndWarning() throws {
        let result = load("""
            version: 1
            policies:
              tools: { filesystem: { read: [/usr, /bin] } }
              wide: { extends: tools, filesystem: { read: [data] } }
            defaults: { policy: tools }
            stages:
              narrow: { map: { over: { glob: "data/*.txt" } }, run: cat "$SANDLOCK_ITEM" }
              broad: { map: { over: { glob: "data/*.txt" } }, run: cat "$SANDLOCK_ITEM", policy: wide }
            """, path: "valid/test.yaml")
        #expect(result.errors.isEmpty, "\(result.rendered)")
        #expect(result.warnings.count == 1, "\(result.rendered)")
        let warning = try #require(result.warnings.first)
        #expect(warning.message.hasPrefix("stage 'broad': filesystem.read '\(Paths.fixtures)/valid/data' gives every shard all of"), "\(warning.message)")
        #expect(warning.mark?.line == 4 && warning.mark?.column == 48, "\(result.rendered)")
        let text = try #require(result.plan).text
        #expect(text.components(separatedBy: "shards   each may read its own item inside \(Paths.fixtures)/valid/data").count == 3, "\(text)")
    }
}
