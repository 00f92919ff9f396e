import Foundation
import SandlockCore
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// What the records and reports say about shards that were retried or interrupted.
@Suite("Shard records", needsKernel)
struct RunnerShardRecordTests {
    @Test("a retried shard keeps each attempt's logs as *.attempt-N.log")
    func retriedShardKeepsItsLogs() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (_, stages, directory) = try await job.run("""
            stages:
              fan:
                map: { over: { shards: 2 } }
                retry: 2
                run: echo "out $SANDLOCK_SHARD"; echo "err $SANDLOCK_SHARD" >&2; exit 3
            """)
        #expect(stages["fan"]?.status == .failed)
        for shard in 0..<2 {
            for attempt in 1...2 {
                #expect(contents(directory.log(.stdout, of: "fan", .shard(shard), attempt: attempt)) == "out \(shard)\n")
                #expect(contents(directory.log(.stderr, of: "fan", .shard(shard), attempt: attempt)) == "err \(shard)\n")
            }
            // The last attempt's logs keep their usual names.
            #expect(contents(directory.log(.stderr, of: "fan", .shard(shard))) == "err \(shard)\n")
            #expect(!FileManager.default.fileExists(atPath: directory.log(.stderr, of: "fan", .shard(shard), attempt: 3)))
        }
    }

    @Test("interrupted shards are counted apart from those that never started, and JUnit says interrupted")
    func interruptedShards() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let plan = try job.plan("""
            stages:
              fan: { map: { over: { shards: 4 }, max_parallel: 2 }, run: echo started; exec sleep 300 }
            """)
        let directory = try RunDirectory.create(workdir: plan.workdir, explicit: nil)
        let task = Task { await Runner(plan: plan, options: RunOptions(jobs: 4), directory: directory).run() }
        // The two running shards have printed their line (stdout goes straight to its file).
        for _ in 0..<600 where (0..<2).contains(where: { contents(directory.log(.stdout, of: "fan", .shard($0))) != "started\n" }) {
            try await Task.sleep(for: .milliseconds(50))
        }
        task.cancel()
        let record = await task.value
        #expect(record.status == .interrupted)
        let fan = try #require(directory.readStageRecord("fan"))
        #expect(fan.status == .cancelled)
        #expect(fan.shards?.notRun == 2)
        #expect(fan.message == "the run was interrupted: 2 of 4 shards interrupted, 2 of 4 shards did not run", "\(fan.message ?? "")")
        let junit = JUnitReport.render(RunSummary(run: record, directory: directory))
        #expect(junit.components(separatedBy: "<skipped message=\"cancelled: interrupted (").count - 1 == 2, "\(junit)")
        #expect(junit.components(separatedBy: "<skipped message=\"skipped: did not run\"/>").count - 1 == 2)
    }

    @Test("an exec refused for an unreadable ELF loader names it and says how to grant it in manifest syntax")
    func execDeniedNamesTheLoader() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (_, stages, _) = try await job.run("""
            stages:
              s: { run: [/usr/bin/true], policy: { filesystem: { read: [/usr/bin] } } }
              fine: { run: [/usr/bin/true] }
            """, options: RunOptions(jobs: 2, keepGoing: true))
        let s = try #require(stages["s"])
        #expect(s.status == .failed && s.reason == .spawnFailed)
        let message = s.message ?? ""
        #expect(message.contains("(the ELF loader of /usr/bin/true)") && message.contains("(add it to the policy: filesystem: { read: [/usr/lib"), "\(message)")
        #expect(!message.contains("-r "), "\(message)")
        // Positive control: the system policy reads the loader.
        #expect(stages["fine"]?.status == .succeeded)
    }
}
