import Foundation
import SandlockCore
import Testing
@testable import SandlockJobs

/// The runner against real sandboxed processes.
@Suite("Runner", needsKernel)
struct RunnerTests {
    @Test("a stage starts only after its needs end; independent stages overlap")
    func dagOrderAndConcurrency() async throws {
        let job = try RunnerJob()
        // Outside the workdir, so both stages open the same FIFOs in place (in the workdir
        // each stage would open its own copy-on-write view).
        let pipes = try RunnerJob()
        defer { job.remove(); pipes.remove() }
        for name in ["ab", "ba"] { #expect(mkfifo(pipes.directory + "/" + name, 0o600) == 0) }
        // A handshake that completes only while a and b run at once: opening a FIFO blocks
        // until the other end is opened. Run one after the other, the first blocks until its
        // timeout (the bound that makes a serial runner fail instead of hang).
        let fifos = "{ extends: sys, filesystem: { write: [\(pipes.directory)] } }"
        let (run, stages, directory) = try await job.run("""
            stages:
              a:
                run: echo from-a > \(pipes.directory)/ab && read x < \(pipes.directory)/ba && echo "a got $x"
                policy: \(fifos)
                timeout: 60s
              b:
                run: read x < \(pipes.directory)/ab && echo from-b > \(pipes.directory)/ba && echo "b got $x"
                policy: \(fifos)
                timeout: 60s
              c: { run: "true", needs: [a, b] }
              d: { run: "true", needs: [c] }
            """)
        #expect(run.status == .succeeded)
        let a = try #require(stages["a"]), b = try #require(stages["b"]), c = try #require(stages["c"]), d = try #require(stages["d"])
        #expect([a, b, c, d].allSatisfy { $0.status == .succeeded }, "\([a, b, c, d].map(\.status))")
        #expect(contents(directory.stageDirectory("a") + "/stdout.log") == "a got from-b\n")
        #expect(contents(directory.stageDirectory("b") + "/stdout.log") == "b got from-a\n")
        #expect(c.started! >= a.ended! && c.started! >= b.ended!)
        #expect(d.started! >= c.ended!)
        // Implied by the handshake; the records must say so too.
        #expect(a.started! < b.ended! && b.started! < a.ended!, "the records show a and b one after the other")
    }

    @Test("--jobs 1 runs independent stages one at a time")
    func jobsLimit() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (_, stages, _) = try await job.run("""
            stages:
              a: { run: sleep 0.2 }
              b: { run: sleep 0.2 }
            """, options: RunOptions(jobs: 1))
        let a = try #require(stages["a"]), b = try #require(stages["b"])
        #expect(a.ended! <= b.started! || b.ended! <= a.started!)
    }

    static let failing = """
        stages:
          bad: { run: echo broken >&2; exit 3 }
          slow: { run: sleep 0.3 }
          later: { run: "true", needs: [slow] }
          after-bad: { run: "true", needs: [bad] }
          cleanup: { run: echo cleaning, needs: [bad], if: always }
          on-failure: { run: "true", needs: [after-bad], if: failure }
        """

    @Test("fail-fast: after a failure no new stage starts, running ones finish; if: always and if: failure still run")
    func failFast() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (run, stages, directory) = try await job.run(Self.failing)
        #expect(run.status == .failed)
        #expect(stages["bad"]?.status == .failed)
        #expect(stages["bad"]?.reason == .exited && stages["bad"]?.exitCode == 3)
        #expect(stages["slow"]?.status == .succeeded, "a running stage finishes")
        #expect(stages["later"]?.status == .cancelled)
        #expect(stages["later"]?.message?.contains("fail-fast") == true)
        #expect(stages["after-bad"]?.status == .skipped)
        #expect(stages["cleanup"]?.status == .succeeded)
        #expect(stages["on-failure"]?.status == .succeeded, "a failure upstream of a skipped need counts")
        #expect(contents(directory.stageDirectory("bad") + "/stderr.log") == "broken\n")
        #expect(contents(directory.stageDirectory("cleanup") + "/stdout.log") == "cleaning\n")
    }

    @Test("--keep-going runs everything not downstream of a failure")
    func keepGoing() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (run, stages, _) = try await job.run(Self.failing, options: RunOptions(jobs: 2, keepGoing: true))
        #expect(run.status == .failed)
        #expect(stages["later"]?.status == .succeeded)
        #expect(stages["after-bad"]?.status == .skipped)
        #expect(stages["cleanup"]?.status == .succeeded)
    }

    @Test("a pipeline fails when its middle member fails; the result names the member; each member has its stderr")
    func pipelineMiddleMemberFails() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (_, stages, directory) = try await job.run("""
            stages:
              p:
                pipeline:
                  - run: seq 1 100000
                  - run: head -n 2 >/dev/null; echo middle broke >&2; exit 7
                  - run: cat; echo last ran >&2
            """)
        let p = try #require(stages["p"])
        #expect(p.status == .failed)
        #expect(p.reason == .exited && p.exitCode == 7)
        #expect(p.attempts.last?.failedMember == 1)
        #expect(p.attempts.last?.members?[2].succeeded == true)
        #expect(contents(directory.memberDirectory("p", 1) + "/stderr.log") == "middle broke\n")
        #expect(contents(directory.memberDirectory("p", 2) + "/stderr.log") == "last ran\n")
    }

    @Test("pipeline members keep their own policies: a member without read access cannot read what its neighbour reads")
    func pipelinePoliciesDiffer() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try job.write("data/secret.txt", "the secret\n")
        let (_, stages, directory) = try await job.run("""
            stages:
              p:
                pipeline:
                  - run: cat data/secret.txt
                    policy: { extends: sys, filesystem: { read: [data] } }
                  - run: cat; cat data/secret.txt
            """)
        let p = try #require(stages["p"])
        #expect(p.attempts.last?.members?[0].succeeded == true, "positive control: the reader read it")
        #expect(contents(directory.stageDirectory("p") + "/stdout.log") == "the secret\n")
        #expect(p.status == .failed && p.attempts.last?.failedMember == 1)
        #expect(contents(directory.memberDirectory("p", 1) + "/stderr.log").contains("Permission denied"))
        #expect(p.members?[0].policy.fsReadable.contains(job.directory + "/data") == true)
        #expect(p.members?[1].policy.fsReadable.contains(job.directory + "/data") == false)
    }

    @Test("fan-out: one sandbox per item, variables set, the reducer gets the outputs in item order")
    func fanOutOrderAndEnvironment() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (_, stages, directory) = try await job.run("""
            stages:
              fan:
                map: { over: { items: [c, a, b, d] }, max_parallel: 3 }
                run: sleep 0.$((4 - SANDLOCK_SHARD)); echo "$SANDLOCK_SHARD $SANDLOCK_ITEM $SANDLOCK_SHARDS $CLONE_ID $SANDLOCK_STAGE"
                reduce: { run: cat; echo reduced }
            """)
        let fan = try #require(stages["fan"])
        #expect(fan.status == .succeeded)
        #expect(fan.shards?.succeeded == 4)
        #expect(contents(directory.stageDirectory("fan") + "/stdout.log") == "0 c 4 0 fan\n1 a 4 1 fan\n2 b 4 2 fan\n3 d 4 3 fan\nreduced\n")
        #expect(contents(directory.shardDirectory("fan", 2) + "/stdout.log") == "2 b 4 2 fan\n")
        let shard = try #require(directory.readShardRecord("fan", 3))
        #expect(shard.item == "d" && shard.status == .succeeded)
    }

    @Test("the reducer's input streams through a pipe: outputs far larger than a pipe buffer, a reducer that stops early")
    func reducerStreaming() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (_, stages, directory) = try await job.run("""
            stages:
              big:
                map: { over: { shards: 4 } }
                run: head -c 300000 /dev/zero
                reduce: { run: wc -c }
              early:
                map: { over: { shards: 4 } }
                run: head -c 300000 /dev/zero
                reduce: { run: head -c 10 >/dev/null; echo stopped }
            """)
        #expect(stages["big"]?.status == .succeeded)
        #expect(contents(directory.stageDirectory("big") + "/stdout.log").trimmingCharacters(in: .whitespacesAndNewlines) == "1200000")
        #expect(stages["early"]?.status == .succeeded, "a reducer that stops reading ends the feed (EPIPE), not the runner")
        #expect(contents(directory.stageDirectory("early") + "/stdout.log") == "stopped\n")
    }

    @Test("allow_failures: failed shards up to the allowance leave the stage succeeded, their output out of the reducer's")
    func allowFailures() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let worker = "echo $SANDLOCK_SHARD; test $SANDLOCK_SHARD != 2"
        let (_, allowed, directory) = try await job.run("""
            stages:
              fan:
                map: { over: { shards: 5 } }
                run: \(worker)
                allow_failures: 1
                reduce: { run: cat }
            """)
        let fan = try #require(allowed["fan"])
        #expect(fan.status == .succeeded)
        #expect(fan.shards?.failed == 1 && fan.shards?.failedShards == [2])
        #expect(contents(directory.stageDirectory("fan") + "/stdout.log") == "0\n1\n3\n4\n")

        let (_, strict, _) = try await job.run("""
            stages:
              fan:
                map: { over: { shards: 5 } }
                run: \(worker)
                reduce: { run: cat }
            """, options: RunOptions(jobs: 2, keepGoing: true))
        let failed = try #require(strict["fan"])
        #expect(failed.status == .failed)
        #expect(failed.reduceAttempts == nil, "no reducer after a failed fan-out")
        #expect(failed.reasonText.contains("1 of 5 shards failed"))
    }

    @Test("retry on timeout, then success; every attempt is kept, its writes dropped; missing write directories are created")
    func retryAfterTimeout() async throws {
        let job = try RunnerJob()
        let state = try RunnerJob()  // outside the workdir: written in place, so it counts attempts
        defer { job.remove(); state.remove() }
        let (_, stages, directory) = try await job.run("""
            stages:
              flaky:
                run: if [ -e \(state.directory)/marker ]; then echo second; else touch \(state.directory)/marker; echo > out/first; sleep 10; fi
                policy: { extends: sys, filesystem: { write: [out, \(state.directory)] } }
                timeout: 300ms
                retry: { limit: 2, on: [timeout] }
            """)
        let flaky = try #require(stages["flaky"])
        #expect(flaky.status == .succeeded)
        #expect(flaky.attemptCount == 2)
        #expect(flaky.attempts.map(\.outcome.reason) == [.timeout, .exited])
        #expect(contents(directory.stageDirectory("flaky") + "/stdout.log") == "second\n")
        #expect(FileManager.default.fileExists(atPath: job.directory + "/out"), "the missing write directory is committed")
        #expect(!FileManager.default.fileExists(atPath: job.directory + "/out/first"), "the timed-out attempt's write is dropped")
    }

    @Test("a retry is not made for a reason retry.on does not name")
    func noRetryForOtherReasons() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (_, stages, _) = try await job.run("""
            stages:
              s: { run: exit 1, retry: { limit: 3, on: [timeout] } }
            """)
        #expect(stages["s"]?.attemptCount == 1)
    }

    @Test("a missing write path outside the workdir fails the stage, naming it")
    func missingPathOutsideWorkdir() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (_, stages, _) = try await job.run("""
            stages:
              s:
                run: "true"
                policy: { extends: sys, filesystem: { write: [/nonexistent-sandlock-jobs-dir] } }
            """)
        let s = try #require(stages["s"])
        #expect(s.status == .failed && s.reason == .spawnFailed)
        #expect(s.message?.contains("'/nonexistent-sandlock-jobs-dir' does not exist") == true)
        #expect(!FileManager.default.fileExists(atPath: "/nonexistent-sandlock-jobs-dir"))
    }

    @Test("a sandbox that cannot start fails the stage with spawn_failed and the engine's reason")
    func spawnFailure() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (_, stages, _) = try await job.run("""
            stages:
              s:
                run: "true"
                policy: { extends: sys, filesystem: { read: [/nonexistent-sandlock-jobs-read] } }
            """)
        let s = try #require(stages["s"])
        #expect(s.status == .failed && s.reason == .spawnFailed)
        #expect(s.message?.contains("cannot open '/nonexistent-sandlock-jobs-read'") == true)
        #expect(s.attempts.count == 1 && s.attempts[0].outcome.reason == .spawnFailed)
    }

    @Test("--only runs a stage and its needs; --from a stage and what is downstream")
    func selection() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let body = """
            stages:
              a: { run: "true" }
              b: { run: "true", needs: [a] }
              c: { run: "true", needs: [b] }
              x: { run: "true" }
            """
        let (_, only, _) = try await job.run(body, options: RunOptions(jobs: 2, only: ["b"]))
        #expect(only.mapValues(\.status) == ["a": .succeeded, "b": .succeeded, "c": .skipped, "x": .skipped])
        let (_, from, _) = try await job.run(body, options: RunOptions(jobs: 2, from: "b"))
        #expect(from.mapValues(\.status) == ["a": .skipped, "b": .succeeded, "c": .succeeded, "x": .skipped])
        let plan = try job.plan(body)
        #expect(throws: Runner.SelectionError.self) { try Runner.selection(of: plan, only: ["bb"], from: nil) }
    }

    @Test("the run record and the stage records say what ran under which policy and what the kernel enforced")
    func records() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (run, stages, directory) = try await job.run("""
            stages:
              s: { run: echo "$SANDLOCK_STAGE $SANDLOCK_RUN_DIR" }
            """)
        let reread = try directory.readRunRecord()
        #expect(reread.id == run.id && reread.status == .succeeded && reread.plan == run.plan)
        #expect(run.landlockABI == Landlock.abi)
        #expect(run.manifestSHA256 == SHA256.hex(ofFile: job.directory + "/job.yaml"))
        #expect(run.stages.map(\.status) == [.succeeded])
        let s = try #require(stages["s"])
        #expect(s.process?.policy.env["SANDLOCK_STAGE"] == "s")
        #expect(s.process?.enforcement?.enforced.contains("seccomp") == true)
        #expect(s.userCPUSeconds >= 0 && s.peakMemoryBytes > 0)
        #expect(contents(directory.stageDirectory("s") + "/stdout.log") == "s \(directory.path)\n")
        let latest = try FileManager.default.destinationOfSymbolicLink(atPath: RunDirectory.runsRoot(workdir: job.directory) + "/latest")
        #expect(latest == directory.id)
    }

    @Test("cancelling the run kills every sandbox and records the rest as cancelled")
    func cancellation() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let plan = try job.plan("""
            stages:
              long: { run: sleep 300 }
              fan: { map: { over: { shards: 50 } }, run: sleep 300 }
              after: { run: "true", needs: [long] }
            """)
        let directory = try RunDirectory.create(workdir: plan.workdir, explicit: nil)
        let task = Task { await Runner(plan: plan, options: RunOptions(jobs: 3), directory: directory).run() }
        try await Task.sleep(for: .milliseconds(500))
        let clock = ContinuousClock.now
        task.cancel()
        let record = await task.value
        // Far below the sleeps: the sandboxes were killed, not waited for (a loaded 2-CPU
        // machine needs seconds to tear down 50 sandboxes).
        #expect(ContinuousClock.now - clock < .seconds(60))
        #expect(record.status == .interrupted)
        #expect(directory.readStageRecord("long")?.status == .cancelled)
        #expect(directory.readStageRecord("fan")?.status == .cancelled)
        #expect(directory.readStageRecord("after")?.status == .cancelled)
    }
}
