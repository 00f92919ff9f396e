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

    @Test("max_cpu throttles the tree: 20% of a core makes a busy loop several times slower")
    func cpuShare() async throws {
        let busy = ["/bin/sh", "-c", "i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done"]
        let free = try await Sandbox(policy: Fixture.basePolicy).run(busy)
        let throttled = try await Sandbox(policy: Fixture.basePolicy.with { $0.maxCPU = 20 }).run(busy)
        #expect(free.success && throttled.success)
        // CPU time is the same work; wall time stretches to about 5x (2.5x leaves room for noise).
        #expect(throttled.wallTime > free.userTime * 5 / 2, "free \(free.wallTime), throttled \(throttled.wallTime)")
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
