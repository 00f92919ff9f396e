#if canImport(Glibc)
import Glibc
#endif
import CSandlock
import CSeccomp

/// One supervisor feature: when a policy needs it, which syscalls it traps, the policy field
/// it serves, and its decisions. Adding a trapped syscall is adding (or extending) one
/// handler; `SupervisorFeatures` derives the seccomp program's trap list, the result's
/// `Enforcement` and the no-supervisor refusal from the handlers a policy needs.
protocol SupervisorHandler: Sendable {
    /// Does `policy` need this handler?
    static func isNeeded(by policy: Policy) -> Bool
    /// The policy field it enforces (`Enforcement.enforced`, the no-supervisor refusal), or
    /// nil when it only serves part of another handler's field.
    static var policyField: String? { get }
    /// Syscalls trapped unconditionally, by name.
    static var trappedSyscalls: [String] { get }
    /// Syscalls trapped only when their arguments match (large writable mmaps, sendto with an
    /// address, clone of a process rather than a thread).
    static var filteredTraps: [FilteredTrap] { get }
    /// Every syscall it decides on: its trapped and filtered ones, plus those another handler
    /// traps that it must see (the vDSO patch at a new image's first mmap).
    static var handledSyscalls: [String] { get }

    init(policy: Policy, initPID: pid_t)

    /// The verdict on `call`, or nil to let the next handler of this syscall decide (the
    /// last one's nil lets the kernel run it).
    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict?
}

extension SupervisorHandler {
    static var filteredTraps: [FilteredTrap] { [] }
    static var handledSyscalls: [String] { trappedSyscalls + filteredTraps.map(\.name) }
}

/// A syscall the notify program traps only when its arguments match every condition.
struct FilteredTrap: Sendable {
    /// One libseccomp argument comparison.
    struct Condition: Sendable {
        let comparison: scmp_arg_cmp

        /// (argument & mask) == value.
        static func masked(_ argument: UInt32, mask: UInt64, equals value: UInt64) -> Self {
            Self(comparison: scmp_arg_cmp(arg: argument, op: SCMP_CMP_MASKED_EQ, datum_a: mask, datum_b: value))
        }

        static func compare(_ argument: UInt32, _ op: scmp_compare, _ value: UInt64) -> Self {
            Self(comparison: scmp_arg_cmp(arg: argument, op: op, datum_a: value, datum_b: 0))
        }
    }

    let name: String
    let conditions: [Condition]
}

/// A trapped syscall as the handlers see it: register arguments, and the path argument of an
/// open read once from the process's memory for every handler that looks at it.
struct TrappedCall {
    let pid: pid_t
    let nr: Int32
    let args: [UInt64]
    /// NOTIF_ID_VALID: the caller is still waiting, so its pid was not reused. Checked after
    /// reading the process's memory and before writing to it.
    let stillPending: () -> Bool
    private var path: String??

    init(_ notification: csl_notification, stillPending: @escaping () -> Bool) {
        pid = pid_t(notification.pid)
        nr = notification.nr
        let a = notification.args
        args = [a.0, a.1, a.2, a.3, a.4, a.5]
        self.stillPending = stillPending
    }

    var isOpen: Bool { nr == Syscall.open || nr == Syscall.openat }

    /// open(path, flags) or openat(dirfd, path, flags): the path, read once and validated.
    /// The path decides only what we serve; whatever is left to the kernel is judged by
    /// Landlock, so a path changed after our read gains nothing.
    mutating func openPath() -> String? {
        if let path { return path }
        let read = isOpen ? ChildMemory.readString(pid, nr == Syscall.open ? args[0] : args[1]) : nil
        path = .some(read.flatMap { stillPending() ? $0 : nil })
        return path!
    }

    var openFlags: Int32 { Int32(truncatingIfNeeded: nr == Syscall.open ? args[1] : args[2]) }
    var openDirectory: Int32 { nr == Syscall.open ? AT_FDCWD : Int32(truncatingIfNeeded: args[0]) }
    var openCloexec: Bool { openFlags & O_CLOEXEC != 0 }
}
