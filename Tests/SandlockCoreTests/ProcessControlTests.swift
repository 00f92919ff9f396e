import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

@Suite("process control: timeouts, the whole tree, outputs, results", Fixture.needs(Requirement.sandbox + [.seccompUserNotification]))
struct ProcessControlTests {
    @Test("a timeout kills a double-forked setsid grandchild too")
    func timeoutKillsTheTree() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let pidFile = directory + "/pid"
            let script = "setsid sh -c 'sleep 300 & echo $! > \(pidFile); wait' & sleep 300"
            let policy = Fixture.basePolicy.with {
                $0.fsWritable.append(directory)
                $0.timeout = .milliseconds(700)
            }
            let clock = ContinuousClock()
            let started = clock.now
            let result = try await Sandbox(policy: policy).run(["/bin/sh", "-c", script])
            #expect(result.reason == .timeout)
            #expect(result.shellStatus == 124)
            // Far below the sleeps: the timeout ended it (a loaded 2-CPU run took 11 s once).
            #expect(clock.now - started < .seconds(120))
            let pid = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(!Fixture.isAlive(pid), "grandchild \(pid) survived the timeout")
        }
    }

    @Test("background processes die with the command")
    func backgroundDiesWithCommand() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let pidFile = directory + "/pid"
            let policy = Fixture.basePolicy.with { $0.fsWritable.append(directory) }
            let result = try await Sandbox(policy: policy).run(
                ["/bin/sh", "-c", "(setsid sleep 300 & echo $! > \(pidFile)) ; echo done"])
            #expect(result.success && result.stdoutText == "done\n")
            #expect(result.leftoverProcessesKilled >= 1)
            let pid = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(!Fixture.isAlive(pid))
        }
    }

    @Test("exit codes and signals are reported")
    func exitCodesAndSignals() async throws {
        let sandbox = Sandbox(policy: Fixture.basePolicy)
        let exited = try await sandbox.run(["/bin/sh", "-c", "exit 42"])
        #expect(exited.reason == .exited && exited.exitCode == 42 && exited.shellStatus == 42)
        let signaled = try await sandbox.run(["/bin/sh", "-c", "kill -TERM $$"])
        #expect(signaled.reason == .signaled && signaled.signal == SIGTERM && signaled.shellStatus == 143)
    }

    @Test("1 MiB on stdout and stderr at once is captured whole")
    func largeOutputs() async throws {
        let size = 1 << 20
        let result = try await Sandbox(policy: Fixture.basePolicy).run([Fixture.probe, "spew", String(size)])
        #expect(result.success)
        #expect(result.stdout.count == size && result.stderr.count == size)
        let expected = (0..<size).map { UInt8($0 % 251) }
        #expect(result.stdout == expected && result.stderr == expected)
    }

    @Test("stdin bytes are fed to the command")
    func stdinBytes() async throws {
        let input = Array(String(repeating: "line\n", count: 50_000).utf8)
        let io = StandardIO(stdin: .bytes(input))
        let result = try await Sandbox(policy: Fixture.basePolicy).run(["/usr/bin/wc", "-l"], io: io)
        #expect(result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "50000")
    }

    @Test("CPU time, wall time and peak memory of the tree are measured")
    func resourceUsage() async throws {
        let result = try await Sandbox(policy: Fixture.basePolicy).run(
            ["/bin/sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
        #expect(result.success)
        #expect(result.userTime + result.systemTime > .milliseconds(10))
        #expect(result.wallTime >= result.userTime / 2)
        #expect(result.peakMemory > 100_000 && result.peakMemory < 200_000_000)
    }

    @Test("kill() ends a running sandbox with reason killed")
    func killLiveHandle() async throws {
        let process = try Sandbox(policy: Fixture.basePolicy).spawn(["/bin/sleep", "300"])
        process.kill()
        let result = await process.wait()
        #expect(result.reason == .killed && result.signal == SIGKILL)
    }

    /// The parent's variable is set in an exit test's own process: setenv in this process
    /// would race with every other test reading the environment in parallel.
    @Test("clean_env keeps only the documented variables plus overrides; without it the caller's environment is inherited")
    func cleanEnvironment() async throws {
        let result = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            func fail(_ message: String) -> Never {
                FileHandle.standardError.write(Data((message + "\n").utf8))
                exit(1)
            }
            setenv("SANDLOCK_TEST_SECRET", "leak", 1)
            let policy = Fixture.basePolicy.with {
                $0.cleanEnv = true
                $0.env = ["EXTRA": "1"]
            }
            let clean = try await Sandbox(policy: policy).run(["/usr/bin/env"])
            let names = Set(clean.stdoutText.split(separator: "\n").map { String($0.split(separator: "=")[0]) })
            if !names.isSubset(of: ["PATH", "HOME", "LANG", "TERM", "EXTRA"]) { fail("clean_env kept \(names)") }
            if !(names.contains("PATH") && names.contains("EXTRA")) { fail("clean_env lost PATH or the override: \(names)") }
            if clean.stdoutText.contains("SANDLOCK_TEST_SECRET") { fail("clean_env leaked the caller's variable") }
            // Control: the same variable reaches a sandbox without clean_env.
            let inherited = try await Sandbox(policy: Fixture.basePolicy).run(["/usr/bin/env"])
            if !inherited.stdoutText.contains("SANDLOCK_TEST_SECRET=leak") { fail("not inherited: \(inherited.stdoutText)") }
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(!stderr.contains("clean_env") && !stderr.contains("not inherited"), "\(stderr)")
    }

    @Test("max_open_files and cwd apply")
    func openFilesAndCwd() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let policy = Fixture.basePolicy.with {
                $0.maxOpenFiles = 64
                $0.cwd = directory
                $0.fsReadable.append(directory)
            }
            let result = try await Sandbox(policy: policy).run(["/bin/sh", "-c", "ulimit -n; pwd"])
            #expect(result.stdoutText == "64\n\(directory)\n")
        }
    }

    @Test("an unknown command is an error naming it")
    func commandNotFound() async throws {
        await #expect(throws: SandboxError.commandNotFound("no-such-command-xyz")) {
            try await Sandbox(policy: Fixture.basePolicy).run(["no-such-command-xyz"])
        }
    }

    @Test("cancelling the task kills the sandbox")
    func cancellation() async throws {
        let task = Task { try await Sandbox(policy: Fixture.basePolicy).run(["/bin/sleep", "300"]) }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        let result = try await task.value
        #expect(result.reason == .killed)
    }

    @Test("50 sandboxes at once all finish with their own output")
    func manyConcurrentSandboxes() async throws {
        let sandbox = Sandbox(policy: Fixture.basePolicy)
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for index in 0..<50 {
                group.addTask { (index, try await sandbox.run(["/bin/echo", String(index)]).stdoutText) }
            }
            for try await (index, output) in group {
                #expect(output == "\(index)\n")
            }
        }
    }
}
