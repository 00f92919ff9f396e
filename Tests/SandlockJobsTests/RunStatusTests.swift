import Foundation
import Testing
@testable import SandlockJobs

/// `RunRecord.overallStatus`: the run's status from its stages', at the end of a run and
/// after a kept stage is settled later.
@Suite("Run status")
struct RunStatusTests {
    let job: RunnerJob
    let plan: Plan

    init() throws {
        job = try RunnerJob()
        plan = try job.plan("""
            stages:
              a: { run: "true" }
              b: { run: "true" }
              c: { needs: [a], run: "true" }
              onfail: { needs: [a], if: failure, run: "true" }
              afterfail: { needs: [onfail], run: "true" }
              last: { needs: [c, b], run: "true" }
            """)
        job.remove()
    }

    func status(_ statuses: [String: StageStatus], selected: [String]? = nil) -> RunRecord.Status {
        let run = RunRecord(
            id: "r", name: "test", manifest: plan.manifestPath, manifestSHA256: "", workdir: plan.workdir,
            runDirectory: "/nonexistent", commandLine: [], landlockABI: 0, jobs: 1, keepGoing: false, selected: selected,
            status: .failed, started: .now, stages: plan.stages.map { .init(name: $0.name, status: statuses[$0.name]) }, plan: plan)
        return run.overallStatus(statuses)
    }

    @Test("at the end of a run: failed, cancelled or conflict fail it; skips by condition or selection do not")
    func endOfRun() {
        let fine: [String: StageStatus] = ["a": .succeeded, "b": .succeeded, "c": .succeeded, "onfail": .skipped,
                                           "afterfail": .skipped, "last": .succeeded]
        #expect(status(fine) == .succeeded, "skipped by its condition, and the stage after it")
        for bad in [StageStatus.failed, .cancelled, .conflict] {
            var s = fine
            s["b"] = bad
            s["last"] = .skipped
            #expect(status(s) == .failed, "\(bad)")
        }
        let only: [String: StageStatus] = ["a": .succeeded, "b": .skipped, "c": .succeeded, "onfail": .skipped,
                                           "afterfail": .skipped, "last": .skipped]
        #expect(status(only, selected: ["a", "c"]) == .succeeded, "--only a,c")
    }

    @Test("after a settle: a resolved conflict succeeds, unless a stage it kept from running never ran")
    func afterSettle() {
        // b was in conflict and is now committed; nothing needed it.
        let resolved: [String: StageStatus] = ["a": .succeeded, "b": .succeeded, "c": .succeeded, "onfail": .skipped,
                                               "afterfail": .skipped, "last": .succeeded]
        #expect(status(resolved) == .succeeded)
        // c was in conflict: last was skipped because of it and never ran.
        var blocked = resolved
        blocked["last"] = .skipped
        #expect(status(blocked) == .failed)
        // The same skip while b still fails: failed either way.
        blocked["b"] = .failed
        #expect(status(blocked) == .failed)
    }
}
