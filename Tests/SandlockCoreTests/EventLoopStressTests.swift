import Foundation
@testable import SandlockCore
import SandlockTestSupport
import Synchronization
import Testing

/// Many sandboxes started, killed and ended at once, then three checks on what is left: no
/// unreaped init, no leaked descriptor, no busy event loop. Runs in an exit test, so the
/// counts are this process's alone (other suites run their sandboxes concurrently).
@Suite("event loop: 200 concurrent sandboxes leave no zombie, no fd, no busy loop",
       Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .pidfdGetfd]))
struct EventLoopStressTests {
    @Test("spawn, kill, time out, capture, feed, supervise and fail 200 sandboxes across 8 tasks",
          .timeLimit(.minutes(2)))
    func stress() async throws {
        let child = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            await EventLoopStress.run()
        }
        if let child, !child.standardErrorContent.isEmpty {
            print(String(decoding: child.standardErrorContent, as: UTF8.self))
        }
    }
}

/// The body of the exit test: any failure prints a line and exits non-zero.
enum EventLoopStress {
    static func run() async {
        // Warm up every lazily created resource (the loop, its eventfd, worker threads).
        for kind in 0..<Kind.allCases.count { _ = await runOne(Kind.allCases[kind], index: kind) }
        await quiesce()
        let descriptorsBefore = openDescriptors()

        let failures = await withTaskGroup(of: [String].self) { group in
            for task in 0..<8 {
                group.addTask {
                    var failures: [String] = []
                    for round in 0..<25 {
                        let index = task * 25 + round
                        let kind = Kind.allCases[index % Kind.allCases.count]
                        if let failure = await runOne(kind, index: index) { failures.append(failure) }
                    }
                    return failures
                }
            }
            var all: [String] = []
            for await failures in group { all += failures }
            return all
        }
        for failure in failures { fail(failure) }

        await quiesce()
        let zombies = childProcesses()
        if !zombies.isEmpty { fail("unreaped children of the test process: \(zombies)") }
        let descriptorsAfter = openDescriptors()
        if descriptorsAfter.count > descriptorsBefore.count {
            fail("leaked descriptors: \(descriptorsBefore.count) before, \(descriptorsAfter.count) after: \(descriptorsAfter.subtracting(descriptorsBefore).sorted())")
        }

        // Idle: the loop must sleep in epoll_wait. Compare its iterations and its CPU ticks
        // across a bounded wait (a poll on a pipe nobody writes).
        let iterationsBefore = EventLoop.shared.iterations
        let ticksBefore = loopTicks()
        idleWait(milliseconds: 500)
        let iterations = EventLoop.shared.iterations - iterationsBefore
        let ticks = loopTicks() - ticksBefore
        // A spinning loop burns ~50 ticks in 500 ms and millions of iterations.
        if iterations > 2 || ticks > 10 { fail("the event loop is busy while idle: \(iterations) iterations, \(ticks) ticks") }
        FileHandle.standardError.write(Data("stress: 200 sandboxes; \(descriptorsBefore.count) descriptors before and \(descriptorsAfter.count) after; idle loop: \(iterations) iterations, \(ticks) ticks; registrations left: \(EventLoop.shared.registrations)\n".utf8))
        if failed.withLock({ $0 }) { exit(1) }
    }

    enum Kind: CaseIterable {
        case exits, killed, timeout, captured, stdin, processLimit, random, missingExecutable, badCwd, failedExec, supervisedFailedExec
    }

    /// Runs one sandbox of `kind`; a description of what went wrong, or nil.
    static func runOne(_ kind: Kind, index: Int) async -> String? {
        var policy = Fixture.basePolicy
        do {
            switch kind {
            case .exits:
                let result = try await Sandbox(policy: policy).run(["/bin/true"])
                return result.success ? nil : "\(kind) \(index): \(result.reason)"
            case .killed:
                let process = try Sandbox(policy: policy).spawn(["/bin/sleep", "5"])
                process.kill()
                let result = await process.wait()
                return result.reason == .killed ? nil : "\(kind) \(index): \(result.reason)"
            case .timeout:
                policy.timeout = .milliseconds(30)
                let result = try await Sandbox(policy: policy).run(["/bin/sleep", "5"])
                return result.reason == .timeout ? nil : "\(kind) \(index): \(result.reason)"
            case .captured:
                let result = try await Sandbox(policy: policy).run(["/bin/sh", "-c", "echo out \(index); echo err >&2"])
                return result.stdoutText == "out \(index)\n" && result.stderrText == "err\n" ? nil : "\(kind) \(index): \(result.stdoutText)"
            case .stdin:
                let bytes = Array("line \(index)\n".utf8) + [UInt8](repeating: 65, count: 100_000)
                let result = try await Sandbox(policy: policy).run(["/bin/cat"], io: StandardIO(stdin: .bytes(bytes)))
                return result.stdout == bytes ? nil : "\(kind) \(index): \(result.stdout.count) bytes back"
            case .processLimit:
                policy.maxProcesses = 4
                let result = try await Sandbox(policy: policy).run(["/bin/sh", "-c", "/bin/true; echo ok"])
                return result.stdoutText == "ok\n" ? nil : "\(kind) \(index): \(result.reason) \(result.stdoutText)"
            case .random:
                policy.randomSeed = 42
                let result = try await Sandbox(policy: policy).run(["/bin/sh", "-c", "/usr/bin/head -c 64 /dev/urandom | /usr/bin/wc -c"])
                return result.stdoutText.trimmingCharacters(in: .whitespaces) == "64\n" ? nil : "\(kind) \(index): \(result.stdoutText)"
            case .missingExecutable:
                _ = try Sandbox(policy: policy).spawn(["/nonexistent/command-\(index)"])
                return "\(kind) \(index): started"
            case .badCwd:
                policy.cwd = "/nonexistent-\(index)"
                _ = try Sandbox(policy: policy).spawn(["/bin/true"])
                return "\(kind) \(index): started"
            case .failedExec, .supervisedFailedExec:
                if kind == .supervisedFailedExec { policy.maxMemory = 1 << 30 }
                // Exists, is readable, is not executable: exec fails in the child.
                _ = try Sandbox(policy: policy).spawn(["/etc/hostname"])
                return "\(kind) \(index): started"
            }
        } catch {
            switch kind {
            case .missingExecutable, .badCwd, .failedExec, .supervisedFailedExec: return nil
            default: return "\(kind) \(index): \(error)"
            }
        }
    }

    private static let failed = Mutex(false)

    private static func fail(_ message: String) {
        failed.withLock { $0 = true }
        FileHandle.standardError.write(Data("stress: \(message)\n".utf8))
    }

    /// Waits (bounded) until the test process has no child left: a failed start's init is
    /// reaped by the loop after `spawn` has thrown.
    static func quiesce() async {
        for _ in 0..<100 where !childProcesses().isEmpty { idleWait(milliseconds: 20) }
    }

    /// Children of every thread of this process: only the sandbox inits it started.
    static func childProcesses() -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.flatMap { tid -> [Int32] in
            let text = (try? String(contentsOfFile: "/proc/self/task/\(tid)/children", encoding: .utf8)) ?? ""
            return text.split(separator: " ").compactMap { Int32($0) }
        }
    }

    static func openDescriptors() -> Set<String> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        // The listing's own directory descriptor is closed by now: its link no longer reads.
        return Set(names.compactMap { name in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)")).map { "\(name)→\($0)" }
        })
    }

    /// utime + stime of the event thread, in clock ticks.
    static func loopTicks() -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for tid in tasks {
            let comm = (try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8)) ?? ""
            guard comm.trimmingCharacters(in: .whitespacesAndNewlines) == EventLoop.threadName,
                  let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // Fields after the command: state is field 3, utime 14, stime 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
        }
        return 0
    }

    /// A bounded wait that is not a sleep: poll(2) on a pipe nobody writes.
    static func idleWait(milliseconds: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        var entry = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        _ = poll(&entry, 1, milliseconds)
        close(fds[0])
        close(fds[1])
    }
}
