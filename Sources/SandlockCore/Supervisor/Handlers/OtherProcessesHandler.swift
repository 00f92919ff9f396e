#if canImport(Glibc)
import Glibc
#endif
import CSeccomp

/// Scheduling of other processes: `sched_setaffinity`, `sched_setscheduler`, `sched_setparam`,
/// `sched_setattr`, `setpriority` and `ioprio_set` naming a pid (or tid). Landlock scopes
/// signals and ptrace, not these, and the kernel checks only that the caller's uid owns the
/// target: a sandbox could pin to one CPU, starve (SCHED_IDLE, the idle I/O class) or renice
/// any process of its user on the host. A task of the sandbox's own tree is let through (the
/// kernel's own checks then apply: pthread_setaffinity_np and friends name threads by tid);
/// any other answers EPERM, as for a signal across the scope. The calling task itself (0)
/// is never trapped; whole process groups and users are refused by BPF (SeccompProgram).
struct OtherProcessesHandler: SupervisorHandler {
    /// Every supervised sandbox (no_supervisor refuses the pid forms by BPF), unless an
    /// allowlist lets none of these calls through.
    static func isNeeded(by policy: Policy) -> Bool {
        guard !policy.noSupervisor else { return false }
        guard let allowed = policy.allowSyscalls else { return true }
        return !Set(allowed).isDisjoint(with: filteredTraps.map(\.name))
    }
    static let policyField: String? = nil
    static let trappedSyscalls: [String] = []
    /// The pid is argument 0 of the sched calls and 1 (`who`) of setpriority and ioprio_set.
    static let filteredTraps = [
        ("sched_setaffinity", 0), ("sched_setscheduler", 0), ("sched_setparam", 0), ("sched_setattr", 0),
        ("setpriority", 1), ("ioprio_set", 1),
    ].map { FilteredTrap(name: $0.0, conditions: [.compare(UInt32($0.1), SCMP_CMP_NE, 0)]) }

    private let initPID: pid_t

    init(policy: Policy, initPID: pid_t) { self.initPID = initPID }

    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        let target: pid_t
        switch call.nr {
        case Syscall.setpriority:
            // PRIO_PROCESS names a task; PRIO_PGRP and PRIO_USER with an id reach further.
            guard call.args[0] == 0 /* PRIO_PROCESS */ else { return .fail(EPERM) }
            target = pid_t(truncatingIfNeeded: call.args[1])
        case Syscall.ioprioSet:
            guard call.args[0] == 1 /* IOPRIO_WHO_PROCESS */ else { return .fail(EPERM) }
            target = pid_t(truncatingIfNeeded: call.args[1])
        default:
            target = pid_t(truncatingIfNeeded: call.args[0])
        }
        // 0 in the low half (the kernel reads an int): the caller itself.
        return target == 0 || Self.isInside(target, initPID: initPID) ? .proceed : .fail(EPERM)
    }

    /// Is task `tid` in the tree under `initPID`: its thread group's parents, followed up
    /// (init is a subreaper, so orphans of the sandbox stay under it), reach `initPID`?
    static func isInside(_ tid: pid_t, initPID: pid_t) -> Bool {
        func field(_ name: String, of pid: pid_t) -> pid_t? {
            guard let status = ProcessTree.readSmallFile("/proc/\(pid)/status") else { return nil }
            for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
                return pid_t(line.dropFirst(name.count + 1).trimmingSpaces())
            }
            return nil
        }
        guard var pid = field("Tgid", of: tid) else { return false }
        for _ in 0..<4096 {
            if pid == initPID { return true }
            guard pid > 1, let parent = field("PPid", of: pid) else { return false }
            pid = parent
        }
        return false
    }
}
