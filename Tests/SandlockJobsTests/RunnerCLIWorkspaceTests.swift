import Foundation
import SandlockCore
import SandlockTestSupport
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

        let dry = try run(["run", "--dry-run", "--verbose", "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stderr.contains("dry run: nothing was committed"))
        #expect(dry.stderr.contains("    M data/edit.txt\n") && dry.stderr.contains("    A data/new.txt\n"))
        #expect(job.read("data/edit.txt") == "one\n" && job.read("data/new.txt") == nil)
        #expect(dry.stderr.contains("  edit: 1 added, 1 modified, would keep\n"))
        #expect(try run(["logs", "latest", "look"], in: job.directory).stdout == "one\n",
                "a real run keeps edit's changes aside, so the preview does not stack them under look")
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

    @Test("as an unprivileged user: a dry run stacks layers in a user namespace, then a run commits as that user",
          Fixture.needs(.root, .unprivilegedUserNamespaces))
    func unprivileged() async throws {
        let job = try RunnerJob(), home = try RunnerJob()
        defer { job.remove(); home.remove() }
        try job.write("data/in.txt", "in\n")
        _ = try job.plan("""
            stages:
              first:
                policy: { extends: sys, filesystem: { read: [.], write: [data, out] } }
                run: tr a-z A-Z < data/in.txt > out/up.txt && rm data/in.txt
              second:
                needs: [first]
                policy: { extends: sys, filesystem: { read: [.], write: [out] } }
                run: cat out/up.txt out/up.txt > out/twice.txt; ls data
            """)
        for directory in [job.directory, home.directory] {
            #expect(try Fixture.runBare(["/bin/chown", "-R", "65534:65534", directory]).status == 0)
        }
        // The user's tree: not the run directory (nor the workdir's mtime, which it changes).
        let tree = { TreeSnapshot.take(job.directory, times: true).filter { !$0.key.hasPrefix(".sandlock-jobs") && $0.key != "." } }
        let before = tree()
        func run(_ flags: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try Fixture.runBare(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", try binary(), "run"]
                                + flags + ["--fs-storage", home.directory + "/storage", "--progress", "plain", job.directory + "/job.yaml"],
                                environment: ["PATH": "/usr/bin:/bin"])
        }
        let dry = try run(["--dry-run", "--verbose"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stderr.contains("    D data/in.txt\n") && dry.stderr.contains("    A out/twice.txt\n"), "\(dry.stderr)")
        #expect(tree() == before, "the dry run changed the tree")

        let real = try run([])
        #expect(real.status == 0, "\(real.stderr)")
        #expect(job.read("out/twice.txt") == "IN\nIN\n" && job.read("data/in.txt") == nil)
        var info = stat()
        #expect(lstat(job.directory + "/out/twice.txt", &info) == 0 && info.st_uid == 65534)
        #expect(Workspace.list(storage: home.directory + "/storage").isEmpty)
    }

    @Test("a runner killed mid-stage leaves orphaned workspaces: recover lists them, --prune removes them; the tree is untouched")
    func orphanedWorkspaces() async throws {
        let job = try RunnerJob(), home = try RunnerJob(), sync = try StageHandshake()
        defer { job.remove(); home.remove() }
        let storage = home.directory + "/storage"
        _ = try job.plan("""
            stages:
              slow:
                policy: { extends: sys, filesystem: { write: [out, \(sync.grant)] } }
                run: "echo partial > out/partial.txt; \(sync.prefix)sleep 33.75"
            """)
        let p = try start(["run", "--fs-storage", storage, "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(sync.waitForStarts(1), "\(contents(job.directory + "/cli.err"))")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(sync.waitUntilAllGone())
        #expect(Workspace.list(storage: storage).contains { $0.isOrphaned })
        let listed = try run(["recover", "--fs-storage", storage], in: job.directory)
        #expect(listed.status == 0 && listed.stdout.contains("orphaned  \(Runner.canonical(job.directory))"), "\(listed.stdout)")
        #expect(!Workspace.list(storage: storage).isEmpty, "listing removes nothing")
        let pruned = try run(["recover", "--prune", "--fs-storage", storage], in: job.directory)
        #expect(pruned.status == 0 && pruned.stdout.contains("pruned"))
        #expect(Workspace.list(storage: storage).isEmpty)
        #expect(job.read("out/partial.txt") == nil)
    }
}
