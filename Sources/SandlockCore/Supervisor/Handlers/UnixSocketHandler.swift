#if canImport(Glibc)
import Glibc
#endif
import CSeccomp

/// Named unix sockets, listen() and every connect: Landlock (ABI ≤ 8) does not restrict a
/// connect or a datagram to a path-named unix socket, so every supervised sandbox traps
/// connect (a sockaddr's family is behind a pointer: BPF cannot tell a unix connect from an
/// IP one) and sendto with an address, and judges them in `SupervisorContext.gateNetwork`
/// (unix: `UnixSocketGate`; IP without a network gate: the `:port` rules Landlock enforces,
/// checked again because the connect is made on behalf). SOCK_DGRAM unix sockets are refused
/// at creation (their sendmsg could name any socket, and sendmsg is not trapped), and
/// listen() is trapped so that no TCP port outside `net_bind` is listened on.
/// On Landlock ABI 9 (LANDLOCK_ACCESS_FS_RESOLVE_UNIX) the kernel could take the unix part.
/// A no-supervisor sandbox has none of this (see docs/security.md).
struct UnixSocketHandler: SupervisorHandler {
    /// Every supervised sandbox; in allowlist mode only when the allowlist lets a socket call
    /// through (a sandbox that cannot connect has nothing to gate, and the allowlist would
    /// refuse the seccomp() that installs the listener).
    static func isNeeded(by policy: Policy) -> Bool {
        guard !policy.noSupervisor else { return false }
        guard let allowed = policy.allowSyscalls else { return true }
        return !Set(allowed).isDisjoint(with: ["connect", "sendto", "listen", "socket", "socketpair"])
    }
    static let policyField: String? = "unix_connect"
    static let trappedSyscalls = ["connect", "listen", "sendmmsg"]
    static let filteredTraps = [
        FilteredTrap.sendtoWithAddress,
        FilteredTrap(name: "socket", conditions: unixDatagram),
        FilteredTrap(name: "socketpair", conditions: unixDatagram),
    ]

    /// socket(AF_UNIX, SOCK_DGRAM | flags, …) and socketpair of the same.
    static let unixDatagram: [FilteredTrap.Condition] = [
        .masked(0, mask: 0xffff_ffff, equals: UInt64(AF_UNIX)),
        .masked(1, mask: 0xf /* SOCK_TYPE_MASK */, equals: UInt64(SOCK_DGRAM.rawValue)),
    ]

    init(policy: Policy, initPID: pid_t) {}

    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        if call.nr == Syscall.socket || call.nr == Syscall.socketpair { return .fail(EACCES) }
        if call.nr == Syscall.sendmmsg {
            // Its destinations are behind two pointers: on a datagram socket ENOSYS, so libc
            // falls back to sendto (checked); stream sockets ignore destinations.
            guard let socket = NetworkGate.duplicate(Int32(truncatingIfNeeded: call.args[0]), of: call.pid) else { return .fail(EBADF) }
            return NetworkGate.isDatagram(socket) ? .fail(ENOSYS) : .proceed
        }
        return context.gateNetwork(call)
    }
}
