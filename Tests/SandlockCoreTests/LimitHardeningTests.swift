import Foundation
@testable import SandlockCore
import SandlockTestSupport
import Testing

/// Issue 20, items 8 and 9: `max_processes` must neither break shells (a held clone failed
/// with EINTR by a SIGCHLD) nor let a thread bomb through (ProcessLimitTests: the kernel's
/// mechanisms, their escapes and their cleanup); `max_memory` must neither misfire
/// after an exec in the same pid nor miss shared memory (memfd, shared anonymous maps).
@Suite("limits: held forks, thread bombs, exec and shared memory",
       Fixture.needs(Requirement.sandbox + [.seccompUserNotification]))
struct LimitHardeningTests {
    private func run(_ arguments: [String], _ change: (inout Policy) -> Void = { _ in }) async throws -> RunResult {
        try await Sandbox(policy: Fixture.basePolicy.with(change)).run([Fixture.probe] + arguments)
    }

    @Test("200 runs of `echo a | cat` under max_processes 16 all succeed (no EINTR from a SIGCHLD)",
          Fixture.needs(.kernelProcessLimit))
    func pipelinesUnderProcessLimit() async throws {
        // With the supervisor's trap: 108-164 of 200 failed with dash's "Cannot fork" (a
        // SIGCHLD before the supervisor read the held clone). The kernel holds no clone.
        let sandbox = Sandbox(policy: Fixture.basePolicy.with { $0.maxProcesses = 16 })
        var failures: [String] = []
        for _ in 0..<200 {
            let result = try await sandbox.run(["/bin/sh", "-c", "echo a | cat"])
            if !(result.success && result.stdoutText == "a\n") { failures.append(result.stderrText) }
        }
        #expect(failures.isEmpty, "\(failures.count) of 200 failed: \(failures.prefix(3))")
    }

    @Test("a map stage's worth of parallel shells (20 pipelines) under max_processes 64 all succeed",
          Fixture.needs(.kernelProcessLimit))
    func parallelPipelines() async throws {
        let script = "for i in $(seq 20); do (echo $i | cat > /dev/null) & done; wait; echo done"
        for _ in 0..<10 {
            let result = try await Sandbox(policy: Fixture.basePolicy.with { $0.maxProcesses = 64 }).run(["/bin/sh", "-c", script])
            #expect(result.success && result.stdoutText == "done\n" && result.stderrText.isEmpty, "\(result.stderrText)")
        }
    }

    @Test("1,000 threads or processes under max_processes 20 stop at 20 tasks; without a limit all start")
    func threadAndForkBombs() async throws {
        // The main thread is one of the 20 tasks. Before: 639 threads (only processes counted).
        let threads = try await run(["thread-bomb", "1000"]) { $0.maxProcesses = 20 }
        #expect(threads.stdoutText == "threads 19 EAGAIN\n", "\(threads.stdoutText) \(threads.stderrText)")
        #expect(threads.success && threads.peakProcesses == 20)
        let forks = try await run(["forkbomb", "1000"]) { $0.maxProcesses = 20 }
        #expect(forks.stdoutText == "forked 19 EAGAIN\n", "\(forks.stdoutText) \(forks.stderrText)")
        // Controls: under the limit, and with no limit at all.
        #expect(try await run(["thread-bomb", "200"]) { $0.maxProcesses = 201 }.stdoutText == "threads 200 none\n")
        #expect(try await run(["thread-bomb", "1000"]).stdoutText == "threads 1000 none\n")
        #expect(try await run(["forkbomb", "100"]).stdoutText == "forked 100 none\n")
    }

    @Test("20 runs of `sh -c 'exec sort FILE'` under max_memory 256M succeed; an over-allocation after exec is still killed")
    func execResetsTheBreak() async throws {
        // Before: 10 of 20 killed for "reaching" hundreds of GiB (the old image's break).
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let file = directory + "/lines"
            let lines = (0..<100_000).map { _ in String(UInt64.random(in: 0...UInt64.max)) }
            try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            let policy = Fixture.basePolicy.with {
                $0.fsReadable.append(directory)
                $0.maxMemory = 256 << 20
            }
            // The shell's own pid execs sort: the break it had is not sort's.
            let expected = lines.sorted().joined(separator: "\n") + "\n"
            var failures: [String] = []
            for _ in 0..<20 {
                let result = try await Sandbox(policy: policy).run(["/bin/sh", "-c", "exec sort \(file)"])
                if !(result.success && result.stdoutText == expected) { failures.append("\(result.reason) \(result.stderrText)") }
            }
            #expect(failures.isEmpty, "\(failures.count) of 20 failed: \(failures.prefix(3))")
        }
        let over = try await Sandbox(policy: Fixture.basePolicy.with { $0.maxMemory = 64 << 20 })
            .run(["/bin/sh", "-c", "exec \(Fixture.probe) alloc 200"])
        #expect(over.reason == .memoryLimit)
        let under = try await Sandbox(policy: Fixture.basePolicy.with { $0.maxMemory = 64 << 20 })
            .run(["/bin/sh", "-c", "exec \(Fixture.probe) alloc 16"])
        #expect(under.success && under.stdoutText == "ok\n")
    }

    @Test("a 512 MiB memfd written under max_memory 128M is killed; 32 MiB is held until the timeout")
    func memfdIsCharged() async throws {
        // Before: the 512 MiB memfd was held until the timeout (shared memory never charged).
        let over = try await run(["memfd", "512"]) {
            $0.maxMemory = 128 << 20
            $0.timeout = .seconds(120) // only turns a miss into a failure instead of a hang
        }
        #expect(over.reason == .memoryLimit, "\(over.reason)")
        #expect((over.peakSandboxMemory ?? 0) > 128 << 20)
        // Control: under the limit, nothing but the timeout ends it, however long it is.
        let under = try await run(["memfd", "32"]) {
            $0.maxMemory = 128 << 20
            $0.timeout = .seconds(5) // room for a loaded machine to reach "held", and 50 periodic checks
        }
        #expect(under.reason == .timeout && under.stdoutText == "held\n", "\(under.reason) \(under.stdoutText)")
    }

    @Test("512 MiB of small shared anonymous maps under max_memory 128M is killed; 32 MiB is held")
    func sharedAnonymousIsCharged() async throws {
        let over = try await run(["shared-small", "512"]) {
            $0.maxMemory = 128 << 20
            $0.timeout = .seconds(120)
        }
        #expect(over.reason == .memoryLimit, "\(over.reason)")
        let under = try await run(["shared-small", "32"]) {
            $0.maxMemory = 128 << 20
            $0.timeout = .seconds(5) // room for a loaded machine to reach "held", and 50 periodic checks
        }
        #expect(under.reason == .timeout && under.stdoutText == "held\n", "\(under.reason) \(under.stdoutText)")
    }
}
