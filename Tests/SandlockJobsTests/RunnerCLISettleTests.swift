import Foundation
import SandlockCore
import Testing
@testable import SandlockJobs

/// `sandlock-jobs commit|discard` settle a kept stage through the runner's own path: the
/// stage's record, `run.json`'s entry and the run's overall status all follow.
extension RunnerCLITests {
    /// Two stages that do not need each other write the same file differently: the one
    /// that ends second (`late`) is in conflict, its workspace kept.
    static func parallelConflict(downstream: Bool) -> String {
        """
        stages:
          early:
            policy: { extends: sys, filesystem: { read: [.], write: [data] } }
            run: echo early > data/x.txt
          late:
            policy: { extends: sys, filesystem: { read: [.], write: [data] } }
            run: sleep 0.5; echo late > data/x.txt
        """ + (downstream ? """

          after:
            needs: [late]
            policy: { extends: sys, filesystem: { read: [.] } }
            run: cat data/x.txt
        """ : "") + "\n"
    }

    func latest(_ job: RunnerJob) throws -> (RunDirectory, RunRecord) {
        let directory = try #require(RunDirectory.find("latest", root: RunDirectory.runsRoot(workdir: job.directory)))
        return (directory, try directory.readRunRecord())
    }

    func entry(_ run: RunRecord, _ stage: String) -> StageStatus? {
        run.stages.first { $0.name == stage }?.status
    }

    @Test("commit --force of a stage in conflict: its record, run.json and the run's status say succeeded; runs and show too")
    func commitResolvesConflict() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try job.write("data/x.txt", "before\n")
        _ = try job.plan(Self.parallelConflict(downstream: false))

        let failed = try run(["run", "-j", "2", "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(failed.status == 1, "\(failed.stderr)")
        var (directory, record) = try latest(job)
        #expect(record.status == .failed && entry(record, "late") == .conflict, "\(failed.stderr)")
        #expect(job.read("data/x.txt") == "early\n")

        let refused = try run(["commit", "latest", "late"], in: job.directory)
        #expect(refused.status == 1 && refused.stderr.contains("data/x.txt: changed in the real tree"), "\(refused.stderr)")
        #expect(job.read("data/x.txt") == "early\n")
        (directory, record) = try latest(job)
        #expect(record.status == .failed && directory.readStageRecord("late")?.status == .conflict)
        #expect(directory.readStageRecord("late")?.changes?.outcome == .conflict)

        let forced = try run(["commit", "--force", "latest", "late"], in: job.directory)
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(job.read("data/x.txt") == "late\n")
        (directory, record) = try latest(job)
        let late = try #require(directory.readStageRecord("late"))
        #expect(late.status == .succeeded && late.message == nil)
        #expect(late.changes?.outcome == .committed && late.changes?.workspaces == nil && late.changes?.conflicts == nil)
        #expect(entry(record, "late") == .succeeded)
        #expect(record.status == .succeeded, "the only failure was the conflict, now resolved")

        let show = try run(["show", "latest", "--json"], in: job.directory)
        #expect(show.stdout.contains("\"outcome\" : \"committed\""))
        let text = try run(["show", "latest"], in: job.directory)
        #expect(text.stdout.hasPrefix("run \(record.id) 'test': succeeded"), "\(text.stdout)")
        let runs = try run(["runs"], in: job.directory)
        #expect(runs.stdout.contains(record.id) && runs.stdout.contains("succeeded"), "\(runs.stdout)")
    }

    @Test("a stage skipped because of a conflict keeps the run failed after the conflict is committed")
    func commitLeavesSkippedDownstreamFailed() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try job.write("data/x.txt", "before\n")
        _ = try job.plan(Self.parallelConflict(downstream: true))

        #expect(try run(["run", "-j", "2", "--progress", "plain", "job.yaml"], in: job.directory).status == 1)
        var (directory, record) = try latest(job)
        #expect(entry(record, "late") == .conflict && entry(record, "after") == .skipped)

        #expect(try run(["commit", "--force", "latest", "late"], in: job.directory).status == 0)
        (directory, record) = try latest(job)
        #expect(directory.readStageRecord("late")?.status == .succeeded && entry(record, "late") == .succeeded)
        #expect(record.status == .failed, "'after' never ran")
    }

    @Test("discard of a stage in conflict resolves it; discard of a kept stage records aborted; run.json follows")
    func discardSettles() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try job.write("data/x.txt", "before\n")
        _ = try job.plan(Self.parallelConflict(downstream: false))

        #expect(try run(["run", "-j", "2", "--progress", "plain", "job.yaml"], in: job.directory).status == 1)
        let discard = try run(["discard", "latest", "late"], in: job.directory)
        #expect(discard.status == 0, "\(discard.stderr)")
        #expect(job.read("data/x.txt") == "early\n", "the real tree keeps the other stage's version")
        var (directory, record) = try latest(job)
        var late = try #require(directory.readStageRecord("late"))
        #expect(late.status == .succeeded && late.changes?.outcome == .aborted && late.changes?.workspaces == nil)
        #expect(entry(record, "late") == .succeeded && record.status == .succeeded)
        #expect(try run(["show", "latest", "--json"], in: job.directory).stdout.contains("\"outcome\" : \"aborted\""))

        // A kept stage of a run that succeeded: discarding changes the stage's changes, not its status.
        _ = try job.plan(Self.keptEdit)
        try job.write("data/edit.txt", "one\n")
        #expect(try run(["run", "-j", "2", "--progress", "plain", "job.yaml"], in: job.directory).status == 0)
        (directory, record) = try latest(job)
        #expect(directory.readStageRecord("edit")?.changes?.outcome == .kept)
        #expect(try run(["discard", "latest", "edit"], in: job.directory).status == 0)
        (directory, record) = try latest(job)
        late = try #require(directory.readStageRecord("edit"))
        #expect(late.status == .succeeded && late.changes?.outcome == .aborted)
        #expect(entry(record, "edit") == .succeeded && record.status == .succeeded)
        #expect(job.read("data/edit.txt") == "one\n" && job.read("data/new.txt") == nil)
    }

    @Test("commit of a kept stage: the stage record and run.json say committed and succeeded")
    func commitKept() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try job.write("data/edit.txt", "one\n")
        _ = try job.plan(Self.keptEdit)
        #expect(try run(["run", "-j", "2", "--progress", "plain", "job.yaml"], in: job.directory).status == 0)
        let commit = try run(["commit", "latest", "edit"], in: job.directory)
        #expect(commit.status == 0 && commit.stderr.contains("committed 2 changes"), "\(commit.stderr)")
        let (directory, record) = try latest(job)
        let edit = try #require(directory.readStageRecord("edit"))
        #expect(edit.status == .succeeded && edit.changes?.outcome == .committed && edit.changes?.workspaces == nil)
        #expect(entry(record, "edit") == .succeeded && record.status == .succeeded)
        let show = try run(["show", "latest"], in: job.directory)
        #expect(show.stdout.contains("edit: 1 added, 1 modified, committed"), "\(show.stdout)")
    }
}
