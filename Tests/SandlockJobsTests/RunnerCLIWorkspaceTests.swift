import Foundation
import Testing
@testable import SandlockJobs

/// `sandlock-jobs run --dry-run`, `diff`, `commit`, `discard`, `recover` as a user runs them.
extension RunnerCLITests {
    static let keptEdit = """
        stages:
          edit:
            policy: { extends: sys, filesystem: { read: [.], write: [data] } }
            run: echo two >> data/edit.txt; echo new > data/new.txt
            on_success: keep
          look:
            needs: [edit]
            policy: { extends: sys, filesystem: { read: [.] } }
            run: cat data/edit.txt
        """

    @Test("run --dry-run prints the changes and leaves the tree; diff, commit, commit --force, discard of kept changes")
    func copyOnWriteCommands() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try job.write("data/edit.txt", "one\n")
        _ = try job.plan(Self.keptEdit)

        let dry = try run(["run", "--dry-run", "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stderr.contains("dry run: nothing was committed"))
        #expect(dry.stderr.contains("    M data/edit.txt\n") && dry.stderr.contains("    A data/new.txt\n"))
        #expect(job.read("data/edit.txt") == "one\n" && job.read("data/new.txt") == nil)
        #expect(try run(["logs", "latest", "look"], in: job.directory).stdout == "one\ntwo\n", "look saw edit's changes")
        #expect(try run(["commit", "latest", "edit"], in: job.directory).stderr.contains("was a dry run"))

        let kept = try run(["run", "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(kept.status == 0)
        #expect(kept.stderr.contains("sandlock-jobs commit"))
        #expect(job.read("data/edit.txt") == "one\n")
        #expect(try run(["diff", "latest", "edit"], in: job.directory).stdout
            .contains("--- a/data/edit.txt\n+++ b/data/edit.txt\n@@ -1 +1,2 @@\n one\n+two\n"))
        #expect(try run(["diff", "latest", "edit", "--name-status"], in: job.directory).stdout == "M data/edit.txt\nA data/new.txt\n")
        #expect(try run(["diff", "latest", "edit", "--json"], in: job.directory).stdout.contains("\"kind\": \"M\""))
        let noChanges = try run(["diff", "latest", "look"], in: job.directory)
        #expect(noChanges.status == 1 && noChanges.stderr.contains("without a copy-on-write workspace"))

        let commit = try run(["commit", "latest", "edit"], in: job.directory)
        #expect(commit.status == 0, "\(commit.stderr)")
        #expect(job.read("data/edit.txt") == "one\ntwo\n" && job.read("data/new.txt") == "new\n")
        #expect(try run(["show", "latest", "--json"], in: job.directory).stdout.contains("\"outcome\" : \"committed\""))
        let again = try run(["commit", "latest", "edit"], in: job.directory)
        #expect(again.status == 1 && again.stderr.contains("nothing to commit"))

        // Kept again; the real file changes meanwhile: a conflict, then --force.
        #expect(try run(["run", "job.yaml"], in: job.directory).status == 0)
        try job.write("data/edit.txt", "by hand\n")
        let conflict = try run(["commit", "latest", "edit"], in: job.directory)
        #expect(conflict.status == 1)
        #expect(conflict.stderr.contains("data/edit.txt: changed in the real tree") && conflict.stderr.contains("this stage: file 644"))
        #expect(job.read("data/edit.txt") == "by hand\n")
        #expect(try run(["commit", "--force", "latest", "edit"], in: job.directory).status == 0)
        #expect(job.read("data/edit.txt") == "one\ntwo\ntwo\n")

        // Kept and discarded.
        #expect(try run(["run", "job.yaml"], in: job.directory).status == 0)
        let discard = try run(["discard", "latest", "edit"], in: job.directory)
        #expect(discard.status == 0)
        #expect(job.read("data/edit.txt") == "one\ntwo\ntwo\n")
        #expect(try run(["discard", "latest", "edit"], in: job.directory).stderr.contains("were aborted"))
    }

    @Test("the runner killed in the middle of a commit: recover completes it, never a half-applied tree")
    func commitCrashRecovery() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try job.write("data/a.txt", "old a\n")
        try job.write("data/b.txt", "old b\n")
        _ = try job.plan("""
            stages:
              edit:
                policy: { extends: sys, filesystem: { read: [.], write: [data] } }
                run: echo new a > data/a.txt; echo new c > data/c.txt; rm data/b.txt
            """)
        let crashed = try run(["run", "--progress", "plain", "job.yaml"], in: job.directory,
                              environment: ["SANDLOCK_FAULT_COMMIT_STEP": "1"])
        #expect(crashed.status == 128 + SIGKILL || crashed.status == SIGKILL, "\(crashed.status)")
        let half = ["data/a.txt", "data/b.txt", "data/c.txt"].map { job.read($0) }
        #expect(half != ["new a\n", nil, "new c\n"], "the commit was not interrupted")
        let recover = try run(["recover"], in: job.directory)
        #expect(recover.status == 0)
        #expect(recover.stdout.contains("completed"))
        #expect(job.read("data/a.txt") == "new a\n" && job.read("data/b.txt") == nil && job.read("data/c.txt") == "new c\n")
    }
}
