import Foundation
import SandlockCore
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// Issue 20, items 5, 6 and 15 through the runner: no stage writes the run directory or the
/// workspace storage, whatever its grants; `recover` stays in its own workdir.
@Suite("Runner escapes", needsWorkspaces)
struct RunnerEscapeTests {
    @Test("a stage whose write grant contains the workdir cannot touch the run directory; its workdir writes still land, its other writes too")
    func runDirectoryOutOfReach() async throws {
        let job = try RunnerJob(), outside = try RunnerJob()
        defer { job.remove(); outside.remove() }
        let parent = (Runner.canonical(job.directory) as NSString).deletingLastPathComponent
        let storage = outside.directory + "/storage"
        let (_, stages, directory) = try await job.run("""
            stages:
              fails:
                run: exit 3
              ok:
                run: "true"
              wide:
                needs: [ok]
                policy: { extends: sys, filesystem: { read: [\(parent)], write: [\(parent)] } }
                run: |
                  echo garbage > "$SANDLOCK_RUN_DIR/stages/ok/result.json" || true
                  echo '{"status":"succeeded"}' > "$SANDLOCK_RUN_DIR/stages/fails/result.json" || true
                  echo planted > "$SANDLOCK_RUN_DIR/planted" || true
                  echo out > out.txt
                  echo there > \(outside.directory)/there.txt
            """, options: RunOptions(jobs: 1, keepGoing: true, workspaceStorage: storage))
        #expect(stages["fails"]?.status == .failed)
        #expect(directory.readStageRecord("fails")?.status == .failed)
        #expect(directory.readStageRecord("ok")?.status == .succeeded, "the record of an earlier stage is intact")
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/planted"))
        // Positive controls: the stage ran and wrote where it may.
        #expect(stages["wide"]?.status == .succeeded, "\(String(describing: stages["wide"]?.message))")
        #expect(job.read("out.txt") == "out\n")
        #expect(outside.read("there.txt") == "there\n")
    }

    @Test("issue 20's scenario: a stage with write: [/tmp] plants a workspace in a storage under /tmp; the next copy-on-write stage replays nothing")
    func plantThenReplay() async throws {
        let job = try RunnerJob(), home = try RunnerJob()
        defer { job.remove(); home.remove() }
        let storage = home.directory + "/storage"
        let secret = home.directory + "/secret"
        try FileManager.default.createDirectory(atPath: secret, withIntermediateDirectories: true)
        try "top secret\n".write(toFile: secret + "/key.txt", atomically: false, encoding: .utf8)
        chmod(secret + "/key.txt", 0o600)
        chmod(secret, 0o700)
        let tree = Runner.canonical(job.directory)
        let (_, stages, _) = try await job.run("""
            stages:
              prepare:
                policy: { extends: sys, filesystem: { write: [out] } }
                run: echo one > out/one.txt
              plant:
                needs: [prepare]
                policy: { extends: sys, filesystem: { read: [/tmp], write: [/tmp] } }
                run: |
                  mkdir -p \(storage)/planted/upper || exit 0
                  printf 'version=1\\nbackend=overlayfs\\nworkdir=\(tree)\\ncreated=0\\n' > \(storage)/planted/workspace
                  ln -s \(secret) \(storage)/planted/upper/a
                  printf 'sandlock-journal 1\\ndirectory\\ta\\nfile\\ta/key.txt\\t644\\nend\\n' > \(storage)/planted/journal
              replay:
                needs: [plant]
                policy: { extends: sys, filesystem: { write: [out] } }
                run: echo two > out/two.txt
            """, options: RunOptions(jobs: 1, workspaceStorage: storage))
        #expect(!FileManager.default.fileExists(atPath: job.directory + "/a/key.txt"))
        #expect(!FileManager.default.fileExists(atPath: storage + "/planted"))
        // Positive controls: the stages around it commit as usual.
        #expect(stages["prepare"]?.status == .succeeded && stages["replay"]?.status == .succeeded, "\(String(describing: stages["replay"]?.message))")
        #expect(job.read("out/one.txt") == "one\n" && job.read("out/two.txt") == "two\n")
    }

    @Test("a stage whose grants cover the workspace storage (and not the workdir) is refused, naming the grant and the storage")
    func storageOutOfReach() async throws {
        let job = try RunnerJob(), home = try RunnerJob()
        defer { job.remove(); home.remove() }
        let storage = home.directory + "/storage"
        try FileManager.default.createDirectory(atPath: home.directory + "/cache", withIntermediateDirectories: true)
        let (_, stages, _) = try await job.run("""
            stages:
              plant:
                policy: { extends: sys, filesystem: { write: [\(home.directory)] } }
                run: mkdir -p \(storage)/planted && echo x > \(storage)/planted/journal
              narrow:
                policy: { extends: sys, filesystem: { write: [\(home.directory)/cache, out] } }
                run: echo ok > \(home.directory)/cache/ok.txt && echo out > out/o.txt
            """, options: RunOptions(jobs: 1, keepGoing: true, workspaceStorage: storage))
        #expect(stages["plant"]?.status == .failed)
        let message = stages["plant"]?.message ?? ""
        #expect(message.contains(storage) && message.contains(home.directory) && message.contains("--fs-storage"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: storage + "/planted"))
        // Positive control.
        #expect(stages["narrow"]?.status == .succeeded, "\(String(describing: stages["narrow"]?.message))")
        #expect(home.read("cache/ok.txt") == "ok\n" && job.read("out/o.txt") == "out\n")
    }
}

extension RunnerCLITests {
    @Test("recover --prune prunes only the workdir's own orphaned workspaces, unless --all")
    func recoverScoped() async throws {
        let first = try RunnerJob(), second = try RunnerJob(), home = try RunnerJob()
        defer { first.remove(); second.remove(); home.remove() }
        let storage = home.directory + "/storage"
        for job in [first, second] {
            let sync = try StageHandshake()
            _ = try job.plan("""
                stages:
                  slow:
                    policy: { extends: sys, filesystem: { write: [out, \(sync.grant)] } }
                    run: "echo partial > out/partial.txt; \(sync.prefix)sleep 34.5"
                """)
            let p = try start(["run", "--fs-storage", storage, "--progress", "plain", "job.yaml"], in: job.directory)
            #expect(sync.waitForStarts(1), "\(contents(job.directory + "/cli.err"))")
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            #expect(sync.waitUntilAllGone())
        }
        let firstTree = Runner.canonical(first.directory), secondTree = Runner.canonical(second.directory)
        #expect(Workspace.list(storage: storage).contains { $0.workdir == secondTree && $0.isOrphaned })
        let pruned = try run(["recover", "--prune", "--fs-storage", storage], in: first.directory)
        #expect(pruned.status == 0, "\(pruned.stderr)")
        #expect(!pruned.stdout.contains(secondTree), "\(pruned.stdout)")
        #expect(!Workspace.list(storage: storage).contains { $0.workdir == firstTree })
        #expect(Workspace.list(storage: storage).contains { $0.workdir == secondTree }, "another project's workspace survives")
        // Positive control: --all reaches every workdir.
        let all = try run(["recover", "--prune", "--all", "--fs-storage", storage], in: first.directory)
        #expect(all.status == 0 && all.stdout.contains(secondTree), "\(all.stdout) \(all.stderr)")
        #expect(Workspace.list(storage: storage).isEmpty)
    }
}
