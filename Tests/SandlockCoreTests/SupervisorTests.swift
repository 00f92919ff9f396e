import Foundation
@testable import SandlockCore
import SandlockTestSupport
import Testing

@Suite("supervisor: process and memory limits, deterministic time and randomness",
       Fixture.needs(Requirement.sandbox + [.seccompUserNotification]))
struct SupervisorTests {
    private func run(_ arguments: [String], _ change: (inout Policy) -> Void = { _ in }) async throws -> RunResult {
        try await Sandbox(policy: Fixture.basePolicy.with(change)).run([Fixture.probe] + arguments)
    }

    @Test("a policy with only filesystem rules runs with no supervisor round trip")
    func filesystemOnlyIsUnsupervised() async throws {
        let result = try await run(["forkbomb", "5"])
        #expect(result.stdoutText == "forked 5 none\n" && result.supervisorNotifications == 0)
        #expect(result.peakProcesses == nil)
    }

    @Test("a fork bomb under max_processes 10 gets EAGAIN and the sandbox still ends cleanly")
    func forkBomb() async throws {
        let limited = try await run(["forkbomb", "50"]) { $0.maxProcesses = 10 }
        #expect(limited.stdoutText == "forked 9 EAGAIN\n")
        #expect(limited.reason == .signaled) // the probe kills its own group when done
        #expect(limited.peakProcesses == 10)
        // The kernel enforces it where it can (ProcessLimitTests); the trap answers each fork.
        let trapped = ProcessLimit.mechanism(for: Fixture.basePolicy.with { $0.maxProcesses = 10 }) == .supervisor
        #expect(trapped ? limited.supervisorNotifications >= 10 : limited.supervisorNotifications == 0)
        let free = try await run(["forkbomb", "20"])
        #expect(free.stdoutText == "forked 20 none\n")
    }

    @Test("slots come back when processes exit, and threads count as tasks")
    func slotsAndThreads() async throws {
        let sequential = try await Sandbox(policy: Fixture.basePolicy.with { $0.maxProcesses = 3 }).run(
            ["/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done; echo done"])
        #expect(sequential.stdoutText == "done\n")
        #expect(try await run(["thread-bomb", "20"]) { $0.maxProcesses = 2 }.stdoutText == "threads 1 EAGAIN\n")
        #expect(try await run(["thread-bomb", "20"]) { $0.maxProcesses = 21 }.stdoutText == "threads 20 none\n")
    }

    @Test("200 MiB under max_memory 64M ends with memory_limit; 16 MiB succeeds")
    func memoryLimit() async throws {
        let over = try await run(["alloc", "200"]) { $0.maxMemory = 64 << 20 }
        #expect(over.reason == .memoryLimit)
        #expect((over.peakSandboxMemory ?? 0) > 64 << 20)
        let under = try await run(["alloc", "16"]) { $0.maxMemory = 64 << 20 }
        #expect(under.success && under.stdoutText == "ok\n")
    }

    @Test("many small mappings, each below the trap threshold, are caught by the periodic check")
    func memoryInSmallMappings() async throws {
        let over = try await run(["alloc-small", "200"]) { $0.maxMemory = 64 << 20 }
        #expect(over.reason == .memoryLimit)
        let under = try await run(["alloc-small", "16"]) { $0.maxMemory = 64 << 20 }
        #expect(under.success)
    }

    @Test("memory allocated in a grandchild is counted")
    func memoryInGrandchild() async throws {
        let over = try await run(["alloc", "-200"]) { $0.maxMemory = 64 << 20 }
        #expect(over.reason == .memoryLimit)
        let under = try await run(["alloc", "-16"]) { $0.maxMemory = 64 << 20 }
        #expect(under.success)
    }

    @Test("time_start shifts every clock path: vDSO, raw syscall, gettimeofday, time()")
    func shiftedClock() async throws {
        let result = try await run(["clocks"]) { $0.timeStart = 946_684_800 }
        let seconds = result.stdoutText.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(seconds.count == 4)
        #expect(seconds.allSatisfy { (946_684_800...946_684_810).contains($0) }, "\(seconds)")
        let host = try await run(["clocks"])
        #expect(host.stdoutText.split(separator: " ").compactMap { Int($0) }.allSatisfy { $0 > 1_700_000_000 })
    }

    @Test("the shift survives exec and reaches shells, date and Python")
    func shiftedClockThroughExec() async throws {
        let script = "date -u +%Y; /usr/bin/python3 -c 'import time; print(time.gmtime().tm_year)'"
        let result = try await Sandbox(policy: Fixture.basePolicy.with { $0.timeStart = 946_684_800 }).run(["/bin/sh", "-c", script])
        #expect(result.stdoutText == "2000\n2000\n")
    }

    @Test("random_seed makes getrandom and /dev/urandom reproducible; another seed differs")
    func deterministicRandom() async throws {
        let first = try await run(["random"]) { $0.randomSeed = 42 }
        let second = try await run(["random"]) { $0.randomSeed = 42 }
        let other = try await run(["random"]) { $0.randomSeed = 43 }
        #expect(first.success && first.stdoutText.count == 130)
        #expect(first.stdoutText == second.stdoutText)
        #expect(first.stdoutText != other.stdoutText)
        let host = try await run(["random"])
        #expect(host.stdoutText != first.stdoutText)
    }

    @Test("two runs printing the time, random bytes and a directory listing print the same thing")
    func reproducibleRun() async throws {
        // The virtual clock starts at time_start and then runs: the runs print the hour (the
        // start is midnight), not the second, which a slow python start-up on a loaded
        // machine moved on once.
        let script = "date -u +%FT%H; head -c 32 /dev/urandom | od -An -tx1; /usr/bin/python3 -c 'import os, time; print(os.urandom(8).hex(), time.strftime(\"%FT%H\", time.gmtime()), os.listdir(\"/usr/share\")[:8])'"
        let policy = Fixture.basePolicy.with {
            $0.timeStart = 946_684_800
            $0.randomSeed = 7
            $0.deterministicDirs = true
        }
        let first = try await Sandbox(policy: policy).run(["/bin/sh", "-c", script])
        let second = try await Sandbox(policy: policy).run(["/bin/sh", "-c", script])
        #expect(first.success && first.stdoutText == second.stdoutText, "\(first.stdoutText) vs \(second.stdoutText)")
    }

    @Test("deterministic_dirs lists directories sorted by name, across several reads")
    func sortedDirectories() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let names = (0..<400).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 36) + "-entry-with-a-long-name" }
            for name in names { _ = FileManager.default.createFile(atPath: directory + "/" + name, contents: nil) }
            let list = ["/usr/bin/find", directory, "-mindepth", "1", "-printf", "%f\n"]
            let policy = Fixture.basePolicy.with { $0.fsReadable.append(directory) }
            let sorted = try await Sandbox(policy: policy.with { $0.deterministicDirs = true }).run(list)
            #expect(sorted.stdoutText == names.sorted().map { $0 + "\n" }.joined())
            #expect(sorted.supervisorNotifications >= 2) // 400 long names do not fit one buffer
            let unsorted = try await Sandbox(policy: policy).run(list)
            #expect(Set(unsorted.stdoutText.split(separator: "\n").map(String.init)) == Set(names))
        }
    }

    @Test("supervisor-only fields are refused in no-supervisor mode, by name")
    func noSupervisorRejectsSupervisedFields() async throws {
        let policy = Fixture.basePolicy.with {
            $0.noSupervisor = true
            $0.maxMemory = 1 << 30
            $0.randomSeed = 1
        }
        await #expect(throws: SandboxError.invalidPolicy("no_supervisor: max_memory, random_seed need the supervisor; remove them or drop --no-supervisor")) {
            try await Sandbox(policy: policy).run(["/bin/true"])
        }
    }

    @Test("100 supervised sandboxes at once are all served by the one event thread")
    func hundredSandboxes() async throws {
        let sandbox = Sandbox(policy: Fixture.basePolicy.with { $0.maxMemory = 1 << 30 })
        let process = try sandbox.spawn(["/bin/sleep", "0.3"])
        let processes = try (0..<99).map { _ in try sandbox.spawn(["/bin/sh", "-c", "/bin/true; sleep 0.3"]) }
        var results = [await process.wait()]
        for other in processes { results.append(await other.wait()) }
        #expect(results.allSatisfy { $0.success })
        #expect(results.dropFirst().allSatisfy { $0.supervisorNotifications >= 1 })
        // Every trapped syscall of every sandbox was answered on one thread, the event thread.
        #expect(EventLoop.shared.supervisingThreads.count == 1)
        #expect(eventThreads() >= 1)
    }

    private func eventThreads() -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { tid in
            let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8)
            return comm?.trimmingCharacters(in: .whitespacesAndNewlines) == EventLoop.threadName
        }.count
    }
}
