import Foundation
import SandlockCore
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// Issue 19: `artifacts:` are copied into the stage's run directory whatever the outcome,
/// and the runner, which copies what sandboxes wrote, follows no symlink doing it.
@Suite("Artifacts", needsWorkspaces)
struct ArtifactsTests {
    @Test("a failing stage's report and coverage tree are kept though its workspace is aborted; symlinks are skipped, never followed")
    func keptWhateverTheOutcome() async throws {
        let job = try RunnerJob(), home = try RunnerJob()
        defer { job.remove(); home.remove() }
        try home.write("secret/key.txt", "top secret\n")
        let (_, stages, directory) = try await job.run("""
            stages:
              test:
                policy: { extends: sys, filesystem: { write: [.] } }
                artifacts: [junit.xml, coverage/, linked/key.txt, missing.txt]
                run: |
                  echo '<testsuite/>' > junit.xml
                  mkdir -p coverage/sub && echo index > coverage/index.html && echo deep > coverage/sub/a.txt
                  ln -s \(home.directory)/secret/key.txt coverage/leak.txt
                  ln -s \(home.directory)/secret linked
                  exit 1
              fan:
                policy: { extends: sys, filesystem: { write: [out] } }
                map: { over: { shards: 2 } }
                artifacts: out
                run: echo "shard $SANDLOCK_SHARD" > out/part-$SANDLOCK_SHARD.txt
            """, options: RunOptions(jobs: 2, keepGoing: true))
        #expect(stages["test"]?.status == .failed)
        #expect(stages["test"]?.changes?.outcome == .aborted)
        #expect(job.read("junit.xml") == nil, "the failed stage's changes were aborted")
        let kept = directory.artifactsDirectory("test")
        #expect(contents(kept + "/junit.xml") == "<testsuite/>\n")
        #expect(contents(kept + "/coverage/index.html") == "index\n" && contents(kept + "/coverage/sub/a.txt") == "deep\n")
        // The symlinks the sandbox planted: neither copied nor followed.
        #expect(!FileManager.default.fileExists(atPath: kept + "/coverage/leak.txt"))
        #expect(!FileManager.default.fileExists(atPath: kept + "/linked"))
        #expect(!FileManager.default.fileExists(atPath: kept + "/missing.txt"))
        #expect(RunnerCLITests.files(under: directory.path, containing: "top secret").isEmpty)
        // A fan-out's artifacts are what its shards left, merged.
        let fan = directory.artifactsDirectory("fan")
        #expect(contents(fan + "/out/part-0.txt") == "shard 0\n" && contents(fan + "/out/part-1.txt") == "shard 1\n")
        #expect(job.read("out/part-1.txt") == "shard 1\n", "and the successful stage committed as usual")
    }
}

@Suite struct ArtifactsPlanTests {
    @Test("plan lists the artifacts; one outside the workdir is an error at its line and column")
    func planAndErrors() throws {
        let ok = load("version: 1\n" + basePolicy + """
            stages:
              t: { run: "true", artifacts: [junit.xml, cov/] }
            """, path: "valid/test.yaml")
        let plan = try #require(ok.plan, "\(ok.rendered)")
        #expect(plan.text.contains("    keeps    junit.xml cov (copied to the run directory whatever the outcome)\n"), "\(plan.text)")
        let bad = load("version: 1\n" + basePolicy + """
            stages:
              t: { run: "true", artifacts: [/etc/passwd, ../up.txt] }
            """, path: "valid/test.yaml")
        #expect(bad.errors.map { "\($0.mark?.line ?? 0):\($0.mark?.column ?? 0) \($0.message)" } == [
            "6:33 stage 't': artifacts: '/etc/passwd' is not inside the workdir; artifacts are files or directories a stage leaves in the workdir",
            "6:46 stage 't': artifacts: relative path '../up.txt' leaves the workdir (write an absolute path to mean it)",
        ], "\(bad.rendered)")
    }
}
