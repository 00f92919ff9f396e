#if canImport(Glibc)
import Glibc
#endif
import CSeccomp

/// Connects (and sends with an address, trapped by argument) checked against `net_allow`
/// host rules and made on behalf. `:port` rules alone are Landlock's and need no handler.
struct NetworkAllowHandler: SupervisorHandler {
    static func isNeeded(by policy: Policy) -> Bool {
        (hostRules(policy) || policy.interceptsHTTP || !policy.netDeny.isEmpty) && !DatagramHandler.isNeeded(by: policy) && !PortRemapHandler.isNeeded(by: policy)
    }
    static let policyField: String? = "net_allow"
    static let trappedSyscalls = ["connect"]
    static let filteredTraps = [FilteredTrap.sendtoWithAddress]

    /// Does net_allow name a host (an address or a name, not just `:port`)?
    static func hostRules(_ policy: Policy) -> Bool {
        ((try? policy.netAllow.map(NetworkRule.init(parsing:))) ?? []).contains { $0.host != .any }
    }

    init(policy: Policy, initPID: pid_t) {}

    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        context.gateNetwork(call)
    }
}

/// `allow_udp`/`allow_icmp`: datagram sends are allowed, so sendmsg is checked too; and binds,
/// since Landlock's bind rules are TCP's only: a UDP port outside `net_bind` is refused.
struct DatagramHandler: SupervisorHandler {
    static func isNeeded(by policy: Policy) -> Bool { policy.allowUDP || policy.allowICMP }
    static let policyField: String? = "allow_udp/allow_icmp"
    static let trappedSyscalls = ["connect", "sendmsg", "bind"]
    static let filteredTraps = [FilteredTrap.sendtoWithAddress]

    init(policy: Policy, initPID: pid_t) {}

    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        context.gateNetwork(call)
    }
}

/// `port_remap`: a virtual port space; binds made on behalf, getsockname translated.
struct PortRemapHandler: SupervisorHandler {
    static func isNeeded(by policy: Policy) -> Bool { policy.portRemap }
    static let policyField: String? = "port_remap"
    static let trappedSyscalls = ["bind", "getsockname", "connect"]
    static let filteredTraps = [FilteredTrap.sendtoWithAddress]

    init(policy: Policy, initPID: pid_t) {}

    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        context.gateNetwork(call)
    }
}

/// `net_allow` naming hosts: /etc/hosts is served with their pinned addresses, so the
/// process connects to what the allowlist resolved.
struct PinnedHostsHandler: SupervisorHandler {
    static func isNeeded(by policy: Policy) -> Bool {
        ((try? policy.netAllow.map(NetworkRule.init(parsing:))) ?? []).contains { if case .name = $0.host { true } else { false } }
    }
    static let policyField: String? = nil
    static let trappedSyscalls = ["openat", "open"]

    init(policy: Policy, initPID: pid_t) {}

    mutating func handle(_ call: inout TrappedCall, _ context: inout SupervisorContext) -> SupervisorState.Verdict? {
        guard let allowlist = context.network?.allowlist, !allowlist.names.isEmpty, call.openPath() == "/etc/hosts" else { return nil }
        return .memoryFile(allowlist.hostsFile, cloexec: call.openCloexec)
    }
}

extension FilteredTrap {
    /// sendto with a destination address (a connected socket's sends were checked at connect).
    static let sendtoWithAddress = FilteredTrap(name: "sendto", conditions: [.compare(4, SCMP_CMP_NE, 0)])
}
