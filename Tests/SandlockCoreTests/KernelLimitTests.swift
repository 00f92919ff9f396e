import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// Limits applied by the child and init without a supervisor: affinity, huge pages, CPU share.
@Suite("CPU affinity, huge pages and CPU share", Fixture.needs(Requirement.sandbox))
struct KernelLimitTests {
    private var withProc: Policy { Fixture.basePolicy.with { $0.fsReadable.append("/proc") } }

    @Test("cpu_cores pins the whole tree; without it every CPU is allowed")
    func affinity() async throws {
        let read = ["/bin/sh", "-c", "sh -c 'grep Cpus_allowed_list /proc/self/status'"]
        let pinned = try await Sandbox(policy: withProc.with { $0.cpuCores = [0] }).run(read)
        #expect(pinned.stdoutText == "Cpus_allowed_list:\t0\n")
        let free = try await Sandbox(policy: withProc).run(read)
        #expect(free.success && free.stdoutText != "Cpus_allowed_list:\t0\n" || ProcessInfo.processInfo.activeProcessorCount == 1)
    }

    @Test("no_huge_pages disables THP for the command; it is on by default")
    func hugePages() async throws {
        let read = ["/bin/sh", "-c", "grep THP_enabled /proc/self/status"]
        #expect(try await Sandbox(policy: withProc.with { $0.noHugePages = true }).run(read).stdoutText == "THP_enabled:\t0\n")
        #expect(try await Sandbox(policy: withProc).run(read).stdoutText == "THP_enabled:\t1\n")
    }

    /// A shell that spins until it has been continued (SIGCONT) three times, then prints its
    /// name. Only a duty cycle stops and continues it, so the outcome does not depend on how
    /// loaded the machine is: throttled, it ends; unthrottled, nothing ever continues it.
    private static let countContinues =
        #"n=0; trap 'n=$((n+1))' CONT; while [ $n -lt 3 ]; do :; done; echo "$1""#

    @Test("max_cpu throttles the whole tree: init stops and continues every process (duty cycle)")
    func cpuShare() async throws {
        // A child and the main shell both count: the tree is throttled, not init's child alone.
        let tree = ["/bin/sh", "-c", #"sh -c "$COUNT" sh child & sh -c "$COUNT" sh main; wait"#]
        let policy = Fixture.basePolicy.with { $0.env = ["COUNT": Self.countContinues] }
        // The bound only turns a missing duty cycle into a failure instead of a hang.
        let throttled = try await Sandbox(policy: policy.with {
            $0.maxCPU = 20
            $0.timeout = .seconds(120)
        }).run(tree)
        #expect(throttled.reason == .exited && throttled.success, "\(throttled.reason) \(throttled.stderrText)")
        #expect(Set(throttled.stdoutText.split(separator: "\n")) == ["child", "main"])
        // Control: the same tree without max_cpu is never continued; the timeout ends it,
        // however long the timeout is.
        let free = try await Sandbox(policy: policy.with { $0.timeout = .milliseconds(500) }).run(tree)
        #expect(free.reason == .timeout && free.stdoutText.isEmpty, "\(free.reason) \(free.stdoutText)")
        // max_cpu 100 is no limit at all: no duty cycle either.
        let full = try await Sandbox(policy: policy.with {
            $0.maxCPU = 100
            $0.timeout = .milliseconds(500)
        }).run(tree)
        #expect(full.reason == .timeout && full.stdoutText.isEmpty, "\(full.reason) \(full.stdoutText)")
    }

    @Test("no_randomize_memory turns ASLR off: the stack is at the same address every run")
    func noRandomizeMemory() async throws {
        let stack = ["/bin/sh", "-c", "grep '\\[stack\\]' /proc/self/maps; cat /proc/self/personality"]
        let fixed = withProc.with { $0.noRandomizeMemory = true }
        let first = try await Sandbox(policy: fixed).run(stack)
        let second = try await Sandbox(policy: fixed).run(stack)
        #expect(first.stdoutText.contains("[stack]") && first.stdoutText == second.stdoutText)
        #expect(first.stdoutText.hasSuffix("00040000\n"))
        let random = try await Sandbox(policy: withProc).run(stack)
        #expect(random.stdoutText.hasSuffix("00000000\n"))
    }

    @Test("no_coredump sets RLIMIT_CORE to 0")
    func noCoredump() async throws {
        let limit = ["/bin/sh", "-c", "ulimit -c"]
        #expect(try await Sandbox(policy: Fixture.basePolicy.with { $0.noCoredump = true }).run(limit).stdoutText == "0\n")
    }
}
