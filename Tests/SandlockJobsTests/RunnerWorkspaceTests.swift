import Foundation
import SandlockCore
import Testing
import SandlockTestSupport
@testable import SandlockJobs

/// Stages over copy-on-write workspaces: dispositions, dry runs stacked across the DAG,
/// per-process uppers, conflicts. Real sandboxes, real overlays, real trees.
@Suite("Runner copy-on-write", needsWorkspaces)
struct RunnerWorkspaceTests {
    /// The user's tree: everything but the run directory and the manifest (written by each
    /// `run`), with modes and mtimes.
    static func snapshot(_ job: RunnerJob) -> [String: String] {
        TreeSnapshot.take(job.directory, times: true).filter { !$0.key.hasPrefix(".sandlock-jobs") && $0.key != "." && $0.key != "job.yaml" }
    }

    /// Workspaces left in the default storage by this job's tree.
    static func leftovers(_ job: RunnerJob) -> [Workspace] {
        let real = Runner.canonical(job.directory)
        return Workspace.list().filter { $0.workdir == real }
    }

    static let writer = """
        policies:
          sys: { filesystem: { read: [/usr, /lib, /lib64, /bin, /etc] } }
          writer: { extends: sys, filesystem: { read: [.], write: [data, out] } }
          reader: { extends: sys, filesystem: { read: [.] } }
        defaults: { policy: writer }

        """

    func seed(_ job: RunnerJob) throws {
        try job.write("data/keep.txt", "keep\n")
        try job.write("data/edit.txt", "one\ntwo\nthree\n")
        try job.write("data/gone.txt", "gone\n")
        try job.write("data/old/nested/deep.txt", "deep\n")
    }

    func run(_ job: RunnerJob, _ body: String, options: RunOptions = RunOptions(jobs: 2)) async throws
        -> (RunRecord, [String: StageRecord], RunDirectory) {
        try job.write("job.yaml", "version: 1\nname: test\n" + Self.writer + body)
        let result = try ManifestLoader(planner: Planner(currentDirectory: job.directory)).load(path: job.directory + "/job.yaml")
        #expect(!result.hasErrors, "\(result.rendered)")
        let plan = try #require(result.plan)
        let directory = try RunDirectory.create(workdir: plan.workdir, explicit: nil)
        let record = await Runner(plan: plan, options: options, directory: directory).run()
        var stages: [String: StageRecord] = [:]
        for s in plan.stages { stages[s.name] = directory.readStageRecord(s.name) }
        return (record, stages, directory)
    }

    static let edits = """
        stages:
          edit:
            run: |
              set -e
              echo new > out/new.txt
              sed -i 's/two/TWO/' data/edit.txt
              rm data/gone.txt
              rm -r data/old
              chmod 600 data/keep.txt
              ln -s keep.txt data/link
        """

    @Test("on success the change set is committed: exactly the changes, recorded with a diff")
    func commitOnSuccess() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try seed(job)
        let (run, stages, directory) = try await run(job, Self.edits)
        #expect(run.status == .succeeded)
        let stage = try #require(stages["edit"])
        let changes = try #require(stage.changes)
        #expect(changes.outcome == .committed && changes.disposition == .commit)
        #expect(job.read("out/new.txt") == "new\n")
        #expect(job.read("data/edit.txt") == "one\nTWO\nthree\n")
        #expect(!FileManager.default.fileExists(atPath: job.directory + "/data/gone.txt"))
        #expect(!FileManager.default.fileExists(atPath: job.directory + "/data/old"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: job.directory + "/data/link") == "keep.txt")
        let mode = try FileManager.default.attributesOfItem(atPath: job.directory + "/data/keep.txt")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let summary = contents(directory.stageDirectory("edit") + "/changes.txt")
        for line in ["A out/new.txt", "M data/edit.txt", "D data/gone.txt", "D data/old/nested/deep.txt", "M data/keep.txt", "A data/link"] {
            #expect(summary.contains(line + "\n"), "\(line) in \(summary)")
        }
        #expect(changes.deleted == 4, "gone.txt, old, old/nested, old/nested/deep.txt")
        let diff = contents(directory.stageDirectory("edit") + "/changes.diff")
        #expect(diff.contains("-two\n+TWO\n"))
        #expect(contents(directory.stageDirectory("edit") + "/changes.json").contains("\"path\": \"out/new.txt\""))
        #expect(Self.leftovers(job).isEmpty)
    }

    @Test("a failure, a timeout: the changes are thrown away, the change set still recorded")
    func abortOnFailure() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try seed(job)
        let (_, stages, directory) = try await run(job, """
            stages:
              fails:
                run: echo partial > out/partial.txt; rm data/keep.txt; exit 7
              slow:
                run: echo late > out/late.txt; sleep 5
                timeout: 300ms
            """, options: RunOptions(jobs: 2, keepGoing: true))
        let fails = try #require(stages["fails"]), slow = try #require(stages["slow"])
        #expect(fails.status == .failed && fails.changes?.outcome == .aborted && fails.changes?.disposition == .abort)
        #expect(slow.status == .failed && slow.reason == .timeout && slow.changes?.outcome == .aborted)
        #expect(job.read("out/partial.txt") == nil && job.read("out/late.txt") == nil)
        #expect(job.read("data/keep.txt") == "keep\n")
        #expect(contents(directory.stageDirectory("fails") + "/changes.txt") == "D data/keep.txt\nA out\nA out/partial.txt\n",
                "out is created in the workspace, not in the real tree")
        #expect(Self.leftovers(job).isEmpty)
    }

    @Test("an aborted stage leaves the tree byte-identical, modes and mtimes included")
    func abortIsByteIdentical() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try seed(job)
        try FileManager.default.createDirectory(atPath: job.directory + "/out", withIntermediateDirectories: true)
        let before = Self.snapshot(job)
        let (_, stages, _) = try await run(job, Self.edits.replacingOccurrences(of: "set -e", with: "set -e; trap 'exit 3' EXIT"))
        #expect(stages["edit"]?.status == .failed && stages["edit"]?.exitCode == 3)
        #expect(stages["edit"]?.changes?.outcome == .aborted)
        #expect((stages["edit"]?.changes?.total ?? 0) >= 6, "the change set of the failed run is recorded")
        #expect(Self.snapshot(job) == before)
    }

    @Test("on_failure: keep leaves the workspace to commit later; on_success: abort throws changes away")
    func keepAndAbortDispositions() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try seed(job)
        let (_, stages, _) = try await run(job, """
            stages:
              kept:
                run: echo kept > out/kept.txt; exit 2
                on_failure: keep
              dropped:
                run: echo dropped > out/dropped.txt
                on_success: abort
            """, options: RunOptions(jobs: 2, keepGoing: true))
        let kept = try #require(stages["kept"]?.changes)
        #expect(kept.outcome == .kept && kept.disposition == .keep)
        #expect(stages["dropped"]?.changes?.outcome == .aborted && stages["dropped"]?.changes?.added == 2)
        #expect(job.read("out/kept.txt") == nil && job.read("out/dropped.txt") == nil)
        let path = try #require(kept.workspaces?.first)
        let workspace = try Workspace.open(path)
        #expect(workspace.status == "kept")
        #expect(try workspace.commit() == .committed(changes: 2), "out and out/kept.txt")
        #expect(job.read("out/kept.txt") == "kept\n")
        #expect(Self.leftovers(job).isEmpty)
    }

    @Test("dry run of a three-stage DAG: stage 2 reads stage 1's output, stage 3 sees both; the tree is untouched")
    func dryRunDAG() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try seed(job)
        let before = Self.snapshot(job)
        let (run, stages, directory) = try await run(job, """
            stages:
              first:
                run: mkdir -p out/sub && tr a-z A-Z < data/keep.txt > out/sub/first.txt && rm data/gone.txt
              second:
                needs: [first]
                run: cat out/sub/first.txt out/sub/first.txt > out/second.txt && echo changed >> data/edit.txt
              third:
                needs: [second]
                policy: reader
                run: cat out/second.txt; ls data; tail -n 1 data/edit.txt
            """, options: RunOptions(jobs: 2, dryRun: true))
        #expect(run.status == .succeeded && run.dryRun == true)
        #expect(stages.values.allSatisfy { $0.status == .succeeded }, "\(stages.mapValues(\.reasonText))")
        #expect(contents(directory.stageDirectory("third") + "/stdout.log") == "KEEP\nKEEP\nedit.txt\nkeep.txt\nold\nchanged\n")
        #expect(contents(directory.stageDirectory("first") + "/changes.txt") == "D data/gone.txt\nA out\nA out/sub\nA out/sub/first.txt\n")
        #expect(contents(directory.stageDirectory("second") + "/changes.txt") == "M data/edit.txt\nA out/second.txt\n")
        #expect(stages["second"]?.changes?.outcome == .previewed)
        #expect(stages["third"]?.changes?.total == 0)
        #expect(Self.snapshot(job) == before, "the real tree changed during a dry run")
        #expect(Self.leftovers(job).isEmpty, "a dry run leaves no workspace behind")
    }

    @Test("dry run: a fan-out over files an upstream stage would write finds them (glob: and lines: through the layers)")
    func dryRunFanOutOverUpstreamFiles() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let before = Self.snapshot(job)
        let (run, stages, directory) = try await run(job, """
            stages:
              gen:
                run: for i in 1 2 3; do echo "v$i" > out/part-$i.txt; done; printf 'a\\nb\\n' > out/list.txt
              fan:
                needs: [gen]
                map: { over: { glob: "out/part-*.txt" } }
                policy: reader
                run: cat "$SANDLOCK_ITEM"
                reduce: { run: cat }
              each:
                needs: [gen]
                map: { over: { lines: out/list.txt } }
                policy: reader
                run: echo "item $SANDLOCK_ITEM"
            """, options: RunOptions(jobs: 2, dryRun: true))
        #expect(run.status == .succeeded, "\(stages.mapValues(\.reasonText))")
        #expect(stages["fan"]?.shards?.total == 3 && stages["each"]?.shards?.total == 2)
        #expect(contents(directory.stageDirectory("fan") + "/stdout.log") == "v1\nv2\nv3\n")
        #expect(contents(directory.shardDirectory("each", 1) + "/stdout.log") == "item b\n")
        #expect(Self.snapshot(job) == before)
    }

    @Test("dry run: a failed stage's changes are shown, but stacked under later stages only when a real run would commit them")
    func dryRunFollowsDispositions() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (run, stages, directory) = try await run(job, """
            stages:
              broken:
                run: echo half > out/half.txt; exit 1
              kept:
                run: echo kept > out/kept.txt; exit 2
                on_failure: keep
              look:
                needs: [broken, kept]
                if: always
                policy: reader
                run: ls out 2>/dev/null || echo nothing
            """, options: RunOptions(jobs: 2, keepGoing: true, dryRun: true))
        #expect(run.status == .failed)
        let broken = try #require(stages["broken"]?.changes), kept = try #require(stages["kept"]?.changes)
        #expect(broken.outcome == .previewed && broken.disposition == .abort && broken.outcomeText == "would abort")
        #expect(kept.outcome == .previewed && kept.outcomeText == "would keep")
        #expect(contents(directory.stageDirectory("broken") + "/changes.txt") == "A data\nA out\nA out/half.txt\n")
        #expect(contents(directory.stageDirectory("look") + "/stdout.log") == "nothing\n", "look saw changes a real run would not commit")
        #expect(job.read("out/half.txt") == nil && Self.leftovers(job).isEmpty)
    }

    @Test("dry run: writes outside the workdir are copy-on-write too, shown by absolute path, seen downstream")
    func dryRunOutsideWorkdir() async throws {
        let job = try RunnerJob()
        let outside = try RunnerJob()
        defer { job.remove(); outside.remove() }
        try outside.write("cache/old.txt", "old\n")
        let before = TreeSnapshot.take(outside.directory, times: true)
        let o = Runner.canonical(outside.directory)
        let (run, stages, directory) = try await run(job, """
            stages:
              fill:
                policy: { extends: writer, filesystem: { write: [\(o)/cache] } }
                run: echo new > \(o)/cache/new.txt; rm \(o)/cache/old.txt; echo here > out/here.txt
              use:
                needs: [fill]
                policy: { extends: sys, filesystem: { read: [., \(o)] } }
                run: ls \(o)/cache; cat out/here.txt
            """, options: RunOptions(jobs: 2, dryRun: true))
        #expect(run.status == .succeeded, "\(stages.mapValues(\.reasonText))")
        #expect(contents(directory.stageDirectory("fill") + "/changes.txt")
            == "A \(o)/cache/new.txt\nD \(o)/cache/old.txt\nA data\nA out\nA out/here.txt\n")
        #expect(stages["fill"]?.changes?.trees == [Runner.canonical(job.directory), o + "/cache"])
        #expect(contents(directory.stageDirectory("use") + "/stdout.log") == "new.txt\nhere\n")
        #expect(TreeSnapshot.take(outside.directory, times: true) == before, "the outside tree changed during a dry run")
        #expect(job.read("out/here.txt") == nil)
        #expect(Workspace.list().filter { $0.workdir.hasPrefix(o) }.isEmpty)
    }

    @Test("dry run: a stage writing a tree sees what a stage it needs wrote in a part of that tree")
    func dryRunNestedOutsideTrees() async throws {
        let job = try RunnerJob(), outside = try RunnerJob()
        defer { job.remove(); outside.remove() }
        let o = Runner.canonical(outside.directory)
        try outside.write("cache/a/old.txt", "old\n")
        let before = TreeSnapshot.take(o, times: true)
        let (run, stages, directory) = try await run(job, """
            stages:
              part:
                policy: { extends: sys, filesystem: { write: [\(o)/cache/a] } }
                run: echo fresh > \(o)/cache/a/new.txt
              whole:
                needs: [part]
                policy: { extends: sys, filesystem: { write: [\(o)/cache] } }
                run: cat \(o)/cache/a/new.txt; echo more > \(o)/cache/more.txt
            """, options: RunOptions(jobs: 2, dryRun: true))
        #expect(run.status == .succeeded, "\(stages.mapValues(\.reasonText))")
        #expect(contents(directory.stageDirectory("whole") + "/stdout.log") == "fresh\n")
        #expect(contents(directory.stageDirectory("whole") + "/changes.txt") == "A \(o)/cache/more.txt\n")
        #expect(TreeSnapshot.take(o, times: true) == before)
    }

    @Test("dry run: a stage granted a tree that contains the workdir fails with a reason; the other stages are previewed")
    func dryRunWorkdirInsideAGrant() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let parent = (Runner.canonical(job.directory) as NSString).deletingLastPathComponent
        let (_, stages, _) = try await run(job, """
            stages:
              wide:
                policy: { extends: sys, filesystem: { write: [\(parent)] } }
                run: "true"
              narrow:
                run: echo x > out/x.txt
            """, options: RunOptions(jobs: 2, keepGoing: true, dryRun: true))
        #expect(stages["wide"]?.status == .failed)
        #expect(stages["wide"]?.message?.contains("--dry-run cannot preview writes to '\(parent)': it contains the workdir") == true)
        #expect(stages["narrow"]?.status == .succeeded && stages["narrow"]?.changes?.added == 3, "data, out, out/x.txt")
        #expect(job.read("out/x.txt") == nil)
    }

    @Test("parallel stages changing the same path differently: conflict; the same change twice is not one")
    func parallelConflict() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try seed(job)
        for dryRun in [true, false] {
            let (run, stages, _) = try await run(job, """
                stages:
                  left: { run: echo left > data/edit.txt; echo same > out/same.txt }
                  right: { run: echo right > data/edit.txt; echo same > out/same.txt }
                  after: { run: "true", needs: [left, right] }
                """, options: RunOptions(jobs: 2, dryRun: dryRun))
            #expect(run.status == .failed)
            let records = [stages["left"], stages["right"]].compactMap { $0 }
            #expect(records.filter { $0.status == .conflict }.count == 1, "dry run \(dryRun)")
            let loser = try #require(records.first { $0.status == .conflict })
            let conflicts = loser.changes?.conflicts ?? []
            #expect(conflicts.map(\.path) == ["data/edit.txt"], "out/same.txt is the same change: \(conflicts)")
            #expect(conflicts.first?.stage != nil && conflicts.first?.theirs != conflicts.first?.ours)
            #expect(stages["after"]?.status == .skipped)
            if !dryRun {
                let winner = try #require(records.first { $0.status == .succeeded })
                #expect(job.read("data/edit.txt") == "\(winner.stage)\n")
                #expect(loser.changes?.outcome == .conflict)
                for path in loser.changes?.workspaces ?? [] { try Workspace.open(path).discard() }
            }
        }
        #expect(Self.leftovers(job).isEmpty)
    }

    @Test("a file changed in the real tree while the stage ran: conflict, nothing applied, both versions reported")
    func realTreeConflict() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try seed(job)
        // The stage and the test hand over through a directory outside the workdir (written in place).
        let signals = try RunnerJob()
        defer { signals.remove() }
        let s = signals.directory
        let body = """
            stages:
              slow:
                policy: { extends: writer, filesystem: { write: [\(s)] } }
                run: echo '# marker' >> data/edit.txt; echo more > out/more.txt; touch \(s)/started; while [ ! -e \(s)/edited ]; do sleep 0.02; done
                timeout: 20s
            """
        let task = Task { try await run(job, body) }
        for _ in 0..<1000 where !FileManager.default.fileExists(atPath: s + "/started") { try await Task.sleep(for: .milliseconds(10)) }
        try job.write("data/edit.txt", "edited by hand\n")
        try signals.write("edited", "")
        let (_, stages, _) = try await task.value
        let slow = try #require(stages["slow"])
        #expect(slow.status == .conflict)
        let changes = try #require(slow.changes)
        #expect(changes.outcome == .conflict)
        #expect(changes.conflicts?.map(\.path) == ["data/edit.txt"])
        #expect(changes.conflicts?.first?.theirs?.hasPrefix("file 644 ") == true)
        #expect(job.read("data/edit.txt") == "edited by hand\n", "the real tree keeps the hand edit")
        #expect(job.read("out/more.txt") == nil, "nothing of the stage is applied")
        let workspace = try Workspace.open(try #require(changes.workspaces?.first))
        #expect(workspace.status == "conflict")
        try workspace.discard()
    }

    @Test("map shards write their own uppers, merged; the reducer sees them; a failed shard's writes are dropped")
    func mapShards() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (run, stages, _) = try await run(job, """
            stages:
              fan:
                map: { over: { items: [a, b, c, d] }, max_parallel: 4 }
                allow_failures: 1
                run: echo "item $SANDLOCK_ITEM" > out/$SANDLOCK_ITEM.txt; mkdir -p out/shared; [ $SANDLOCK_ITEM != c ]
                reduce:
                  run: cat out/*.txt > out/all.txt; ls out
            """)
        #expect(run.status == .succeeded)
        let fan = try #require(stages["fan"])
        #expect(fan.changes?.outcome == .committed)
        #expect(job.read("out/all.txt") == "item a\nitem b\nitem d\n")
        #expect(job.read("out/c.txt") == nil, "the failed shard's write is dropped")
        #expect(FileManager.default.fileExists(atPath: job.directory + "/out/shared"), "the same directory made by three shards")
        #expect(Self.leftovers(job).isEmpty)
    }

    @Test("map shards writing the same file differently conflict")
    func mapShardConflict() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (_, stages, _) = try await run(job, """
            stages:
              fan:
                map: { over: { items: [x, y] } }
                run: echo "$SANDLOCK_ITEM" > out/result.txt
            """)
        let fan = try #require(stages["fan"])
        #expect(fan.status == .conflict)
        #expect(fan.changes?.conflicts?.first?.reason.contains("shard") == true)
        #expect(fan.changes?.leftOut?.count == 1, "the shard merged second is left out of the kept workspace")
        #expect(job.read("out/result.txt") == nil)
        for path in fan.changes?.workspaces ?? [] { try Workspace.open(path).discard() }
    }

    @Test("pipeline members each write their own upper; both are committed")
    func pipelineMembers() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (run, _, _) = try await run(job, """
            stages:
              pipe:
                pipeline:
                  - run: echo one > out/one.txt; echo data
                  - run: cat > out/two.txt
            """)
        #expect(run.status == .succeeded)
        #expect(job.read("out/one.txt") == "one\n" && job.read("out/two.txt") == "data\n")
    }

    @Test("a missing write directory behind a symlink is made where the symlink points; a missing read path is named")
    func grantedPathsThroughSymlinks() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try job.write("real/keep.txt", "keep\n")
        try FileManager.default.createSymbolicLink(atPath: job.directory + "/build", withDestinationPath: "real")
        let (_, stages, _) = try await run(job, """
            stages:
              via-link:
                policy: { extends: sys, filesystem: { read: [.], write: [build/out] } }
                run: echo x > build/out/x.txt
              missing-read:
                policy: { extends: sys, filesystem: { read: [nowhere], write: [out] } }
                run: "true"
            """, options: RunOptions(jobs: 2, keepGoing: true))
        #expect(stages["via-link"]?.status == .succeeded, "\(stages["via-link"]?.reasonText ?? "")")
        #expect(job.read("real/out/x.txt") == "x\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: job.directory + "/build") == "real", "the link is kept")
        let missing = try #require(stages["missing-read"])
        #expect(missing.status == .failed && missing.message == "filesystem.read: '\(job.directory)/nowhere' does not exist")
    }

    @Test("writes into the run directory through a grant of the whole workdir are dropped")
    func runDirectoryExcluded() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (run, _, directory) = try await run(job, """
            stages:
              wide:
                policy: { extends: sys, filesystem: { write: [.] } }
                run: echo forged > .sandlock-jobs/forged; echo fine > fine.txt
            """)
        #expect(run.status == .succeeded)
        #expect(contents(directory.stageDirectory("wide") + "/changes.txt") == "A fine.txt\n")
        #expect(job.read(".sandlock-jobs/forged") == nil && job.read("fine.txt") == "fine\n")
    }
}

extension RunnerWorkspaceTests {
    @Test("a write directory that exists only in the stage's workspace takes metadata changes (touch, chmod); outside it they stay refused")
    func metadataInsideACreatedWriteDirectory() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try job.write("data/in.txt", "x\n")
        let (_, stages, directory) = try await job.run("""
            stages:
              made:
                policy: { extends: sys, filesystem: { read: [data], write: [out] } }
                run: "touch out/first && chmod 600 out/first && stat -c %a out/first; touch data/in.txt 2>/dev/null || echo refused"
            """)
        #expect(stages["made"]?.status == .succeeded, "\(contents(directory.stageDirectory("made") + "/stderr.log"))")
        #expect(contents(directory.stageDirectory("made") + "/stdout.log") == "600\nrefused\n")
        var info = stat()
        #expect(stat(job.directory + "/out/first", &info) == 0 && info.st_mode & 0o777 == 0o600)
    }
}
