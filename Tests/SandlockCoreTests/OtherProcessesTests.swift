import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// Landlock scopes signals and ptrace, not scheduling: a sandbox could pin a host process of
/// its user to one CPU, give it SCHED_IDLE or the idle I/O class, or renice it (the kernel
/// checks only the uid). Before, as nobody, `other-process affinity|scheduler|ioprio|nice PID`
/// of a host process answered ok. Now EPERM for a task outside the sandbox's tree, with and
/// without a supervisor; controls: the same calls on a child of the sandboxed process work,
/// and outside a sandbox they reach the victim (as a caller without CAP_SYS_NICE would).
@Suite("scheduling of other processes", Fixture.needs(Requirement.sandbox + [.seccompUserNotification]))
struct OtherProcessesTests {
    static let calls = ["affinity", "scheduler", "nice", "ioprio"]

    @Test("a host process of the same user cannot be rescheduled; the sandbox's own child can")
    func otherProcesses() async throws {
        let victim = try KernelHardeningTests.spawnBare(["/bin/sleep", "1000"])
        defer { kill(victim, SIGKILL); waitpid(victim, nil, 0) }
        let before = try String(contentsOfFile: "/proc/\(victim)/stat", encoding: .utf8)
        for policy in [Fixture.basePolicy, Fixture.basePolicy.with { $0.noSupervisor = true }] {
            for call in Self.calls {
                #expect(try await probe(["other-process", call, String(victim)], policy: policy) == "EPERM",
                        "\(call), no_supervisor \(policy.noSupervisor)")
            }
            // A whole user's processes: refused by BPF (a uid with none: ESRCH outside).
            #expect(try await probe(["other-process", "nice-user", "12345"], policy: policy) == "EPERM")
        }
        #expect(try probeBare(["other-process", "nice-user", "12345"]) == "ESRCH", "control: the kernel's answer outside")
        // The victim's nice (field 19 of stat) and policy are what they were.
        let fields = { (stat: String) in stat.split(separator: ")").last?.split(separator: " ").map(String.init) ?? [] }
        let now = try String(contentsOfFile: "/proc/\(victim)/stat", encoding: .utf8)
        #expect(fields(now)[16] == fields(before)[16] && fields(now)[38] == fields(before)[38], "nice or policy changed")
        // Controls: on the sandbox's own child every call works (supervised: checked and let
        // through; no supervisor: the child is no pid the filter can tell, so refused).
        for call in Self.calls {
            #expect(try await probe(["other-process", call, "self-child"]) == "ok", "control: \(call) on its own child")
        }
        for call in Self.calls {
            let answer = try probeBare(["other-process", call, String(victim)])
            #expect(answer == "ok" || geteuid() == 0, "control: \(call) outside a sandbox answered \(answer)")
        }
    }
}
