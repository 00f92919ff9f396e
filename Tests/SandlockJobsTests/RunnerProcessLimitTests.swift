import Foundation
import SandlockCore
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// A map stage under `limits.processes`: every shard gets its own kernel limit, and no shard
/// loses a fork to a signal (issue 20, item 9: with the supervisor's trap, 8 of 20 shards
/// failed with dash's "Cannot fork").
@Suite("runner: map stages under a process limit", Fixture.needs(Requirement.sandbox + [.kernelProcessLimit]))
struct RunnerProcessLimitTests {
    @Test("a 20-shard map stage of shell pipelines under limits.processes loses no shard; each shard is bounded alone")
    func mapStageUnderProcessLimit() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (_, stages, directory) = try await job.run("""
            stages:
              fan:
                map: { over: { shards: 20 }, max_parallel: 20 }
                policy: { extends: sys, limits: { processes: 16 } }
                run: for i in 1 2 3 4 5; do echo $SANDLOCK_SHARD | cat | cat > /dev/null; done; echo $SANDLOCK_SHARD
                reduce: { run: sort -n | tr '\\n' ' ' }
              bombs:
                map: { over: { shards: 4 } }
                policy: { extends: sys, filesystem: { read: [\(Fixture.productsDirectory), \(Fixture.swiftRuntimeDirectory)] }, limits: { processes: 8 } }
                run: exec \(Fixture.probe) forkbomb 100
            """, options: RunOptions(jobs: 20))
        let fan = try #require(stages["fan"])
        #expect(fan.status == .succeeded && fan.shards?.succeeded == 20, "\(fan.reasonText)")
        #expect(contents(directory.stageDirectory("fan") + "/stdout.log") == (0..<20).map(String.init).joined(separator: " ") + " ")
        // Each shard has its own 8 tasks: one shard's bomb does not eat another's.
        for shard in 0..<4 {
            #expect(contents(directory.shardDirectory("bombs", shard) + "/stdout.log") == "forked 7 EAGAIN\n",
                    "\(stages["bombs"].map { "\($0.status) \($0.reasonText)" } ?? "") \(contents(directory.stageDirectory("bombs") + "/stdout.log")) \(contents(directory.shardDirectory("bombs", shard) + "/stderr.log"))")
        }
    }
}
