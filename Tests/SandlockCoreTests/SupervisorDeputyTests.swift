import Foundation
@testable import SandlockCore
import SandlockTestSupport
import Testing

/// Issue 20: the supervisor opens files on the sandbox's behalf, on the one event thread, and
/// keeps per-request resources. These check that an on-behalf open is judged as if the
/// sandbox made it, that nothing on the event thread waits for a partner the sandbox
/// controls, and that what a sandbox makes the supervisor hold is bounded.
@Suite("supervisor as a deputy: on-behalf opens, blocking, resources",
       Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .pidfdGetfd]))
struct SupervisorDeputyTests {
    private var withProc: Policy { Fixture.basePolicy.with { $0.fsReadable.append("/proc") } }

    @Test("an O_PATH descriptor of an ungranted or denied file cannot be reopened through /proc/self/fd")
    func opathReopen() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let granted = directory + "/granted", writable = directory + "/rw"
            for sub in [granted, writable] { try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true) }
            for file in [directory + "/secret", granted + "/file", granted + "/denied", writable + "/file"] {
                try "content".write(toFile: file, atomically: false, encoding: .utf8)
            }
            let policy = withProc.with {
                $0.fsReadable.append(granted)
                $0.fsWritable.append(writable)
                $0.fsDenied = [granted + "/denied"]
            }
            // Landlock refuses the direct opens (the rules the reopen must not bypass).
            #expect(try await probe(["read", directory + "/secret"], policy: policy) == "EACCES")
            #expect(try await probe(["read", granted + "/denied"], policy: policy) == "EACCES")
            // The escape: O_PATH (not judged by Landlock), then a reopen by the supervisor.
            #expect(try await probe(["opath-reopen", directory + "/secret", "r"], policy: policy) == "EACCES")
            #expect(try await probe(["opath-reopen", granted + "/denied", "r"], policy: policy) == "EACCES")
            #expect(try await probe(["opath-reopen", granted + "/file", "w"], policy: policy) == "EACCES")
            #expect(try await probe(["opath-reopen", directory + "/secret", "w"], policy: policy) == "EACCES")
            // Positive controls: what the sandbox may open itself it may reopen, as the kernel
            // would let it (O_PATH included), for reading and, where granted, for writing.
            #expect(try await probe(["opath-reopen", granted + "/file", "r"], policy: policy) == "ok")
            #expect(try await probe(["opath-reopen", writable + "/file", "w"], policy: policy) == "ok")
            #expect(try await probe(["fd-reopen", granted + "/file", "r"], policy: policy) == "ok")
            #expect(try await probe(["fd-reopen", writable + "/file", "w"], policy: policy) == "ok")
            // Control: with no supervisor (Landlock alone judges /proc/self/fd reopens) the
            // kernel answers the same.
            let kernel = policy.with { $0.noSupervisor = true }
            #expect(try await probe(["opath-reopen", directory + "/secret", "r"], policy: kernel) == "EACCES")
            #expect(try await probe(["opath-reopen", granted + "/file", "r"], policy: kernel) == "ok")
        }
    }

    @Test("a reopen of a writer-less FIFO does not wedge the event thread: its timeout and another sandbox's fire",
          .timeLimit(.minutes(1)))
    func fifoReopenDoesNotBlock() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let fifo = directory + "/fifo"
            #expect(mkfifo(fifo, 0o666) == 0)
            let policy = withProc.with { $0.fsReadable.append(directory) }
            let reopening = try Sandbox(policy: policy.with { $0.timeout = .seconds(2) }).spawn([Fixture.probe, "fifo-reopen", fifo])
            let other = try Sandbox(policy: Fixture.basePolicy.with { $0.timeout = .seconds(1) }).spawn(["/bin/sleep", "30"])
            // Bounded: if the loop is wedged, a writer releases the blocked open after 20 s,
            // so the test fails instead of hanging the suite.
            let watchdog = Task {
                try await Task.sleep(for: .seconds(20))
                Issue.record("the sandboxes did not time out within 20 s: the event thread is blocked")
                let writer = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
                if writer >= 0 { close(writer) }
                reopening.kill()
                other.kill()
            }
            let first = await reopening.wait()
            let second = await other.wait()
            watchdog.cancel()
            #expect(first.reason == .timeout, "\(first.reason) \(first.stdoutText) \(first.stderrText)")
            #expect(first.stdoutText == "reopened blocking\n", "\(first.stdoutText)")
            #expect(second.reason == .timeout, "\(second.reason)")
        }
    }

    @Test("a reopen for writing of a reader-less FIFO fails ENXIO at once (as an O_NONBLOCK open); with a reader it succeeds, blocking")
    func fifoReopenForWriting() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let fifo = directory + "/fifo"
            #expect(mkfifo(fifo, 0o666) == 0)
            let policy = withProc.with { $0.fsWritable.append(directory) }
            #expect(try await probe(["fifo-reopen-write", fifo, "drop"], policy: policy) == "ENXIO")
            #expect(try await probe(["fifo-reopen-write", fifo, "keep"], policy: policy) == "ok")
        }
    }

    @Test("8,000 /dev/urandom opens under random_seed keep the supervising process's descriptors bounded",
          .timeLimit(.minutes(2)))
    func randomFeedsAreBounded() async throws {
        let child = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            await RandomFeedBound.run()
        }
        _ = child
        // The child's own account (the exit test's stderr is not kept on failure).
        let log = "/tmp/sandlock-feeds-\(getpid()).log"
        if let text = try? String(contentsOfFile: log, encoding: .utf8) { print(text) }
        unlink(log)
    }

    @Test("a feed's place is given back when the sandbox closes its end: 1,000 open-read-close cycles under the limit of 64")
    func randomFeedsAreReleased() async throws {
        let policy = Fixture.basePolicy.with { $0.randomSeed = 5 }
        #expect(try await probe(["cycle-random", "1000"], policy: policy) == "ok")
    }

    @Test("cost: 1,000 reopens of /proc/self/fd/N (printed, not asserted)")
    func reopenCost() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            try "content".write(toFile: directory + "/file", atomically: false, encoding: .utf8)
            let policy = withProc.with { $0.fsReadable.append(directory) }
            let verdict = try await probe(["reopen-loop", directory + "/file", "1000"], policy: policy)
            #expect(verdict.hasPrefix("ok "), "\(verdict)")
            print("reopen via /proc/self/fd under the supervisor: \(verdict.dropFirst(3)) ns each")
            // The judgement alone, in this process: a plain reopen against a judged one.
            let file = directory + "/file"
            let original = try SharedDescriptor(FileDescriptor(opening: file, flags: O_RDONLY))
            let rules = OnBehalfRules(policy: policy, procDevice: 0)
            func nanoseconds(_ body: () -> Void) -> Int64 {
                var start = timespec(), end = timespec()
                clock_gettime(CLOCK_MONOTONIC, &start)
                for _ in 0..<1000 { body() }
                clock_gettime(CLOCK_MONOTONIC, &end)
                return (Int64(end.tv_sec - start.tv_sec) * 1_000_000_000 + Int64(end.tv_nsec - start.tv_nsec)) / 1000
            }
            let plain = nanoseconds { _ = try? FileDescriptor(opening: "/proc/self/fd/\(original.rawValue)", flags: O_RDONLY) }
            var judged = 0
            let checked = nanoseconds { if case .success = rules.reopen(original, flags: O_RDONLY) { judged += 1 } }
            #expect(judged == 1000)
            print("reopen in-process: plain \(plain) ns, judged (path walk of \(file.split(separator: "/").count) components) \(checked) ns")
        }
    }
}

/// The body of the random-feed exit test (its own process, so /proc/self/fd is ours alone).
enum RandomFeedBound {
    static func run() async {
        var failed = false
        func fail(_ message: String) {
            failed = true
            note("random feeds: \(message)")
        }
        let directory = "/tmp/sandlock-feeds-\(getpid())"
        mkdir(directory, 0o777)
        chmod(directory, 0o777)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let signal = directory + "/signal"
        mkfifo(signal, 0o666)
        let policy = Fixture.basePolicy.with {
            $0.randomSeed = 3
            $0.fsWritable.append(directory)
        }
        // Warm up the loop and its workers.
        _ = try? await Sandbox(policy: policy).run([Fixture.probe, "random"])
        let before = descriptorCount()
        guard let process = try? Sandbox(policy: policy).spawn([Fixture.probe, "hold-random", "8000", signal]) else {
            fail("spawn failed")
            exit(1)
        }
        // The probe writes one line once its opens are done, then waits to be killed.
        let line = readLine(fifo: signal)
        let during = descriptorCount()
        process.kill()
        let result = await process.wait()
        let words = line.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").map(String.init)
        let opened = words.count == 3 ? Int(words[1]) ?? -1 : -1
        if opened < 1 || opened > Supervisor.randomFeedLimit {
            fail("the sandbox kept \(opened) feeds open (limit \(Supervisor.randomFeedLimit)): '\(line)'")
        }
        if words.count == 3, words[2] != "EMFILE" { fail("beyond the limit: '\(words[2])', not EMFILE") }
        if during - before > Supervisor.randomFeedLimit + 16 {
            fail("the supervising process held \(during - before) more descriptors (\(before) → \(during)) while the sandbox kept \(opened) feeds")
        }
        if result.reason != .killed { fail("reason \(result.reason), \(result.stdoutText) \(result.stderrText)") }
        note("random feeds: \(line.trimmingCharacters(in: .whitespacesAndNewlines)); descriptors \(before) → \(during)")
        exit(failed ? 1 : 0)
    }

    /// A line for the parent test process to print.
    static func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
        let log = "/tmp/sandlock-feeds-\(getppid()).log"
        let fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = (line + "\n").withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    /// Everything written to `fifo` by its first writer (a blocking open: it waits for one).
    static func readLine(fifo: String) -> String {
        let fd = open(fifo, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func descriptorCount() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).count
    }
}
