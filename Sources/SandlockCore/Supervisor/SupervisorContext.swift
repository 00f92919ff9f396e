#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// What the handlers of one sandbox share: its memory accounting (read by max_memory and by
/// the virtual /proc/meminfo), its network gate (connects, binds, the virtual /proc/net
/// tables), its directory listings, and the counters the result reports.
struct SupervisorContext: Sendable {
    let initPID: pid_t
    let maxProcesses: Int?
    let maxMemory: UInt64?

    var memory = MemoryAccounting()
    var network: NetworkGate?
    let bindablePorts: Set<UInt16>
    let registration: NameRegistration?
    var directories = DirectoryListings()
    let procView: ProcView?
    let sortDirectories: Bool

    /// Trapped syscalls handled for this sandbox.
    var notifications = 0
    var peakProcesses = 0
    /// Destinations the network allowlist refused, with how many times.
    var deniedConnections: [String: Int] = [:]

    init(policy: Policy, initPID: pid_t, network: NetworkAllowlist?, registration: NameRegistration?) {
        self.initPID = initPID
        maxProcesses = policy.maxProcesses
        maxMemory = policy.maxMemory
        self.network = network.map { NetworkGate(allowlist: $0) }
        bindablePorts = Set(policy.netBind)
        self.registration = registration
        procView = ProcView.isVirtualized(for: policy) ? ProcView(policy: policy, initPID: initPID) : nil
        sortDirectories = policy.deterministicDirs
    }

    /// getdents64(fd, buffer, count), sorted (`deterministic_dirs`) and/or filtered (a virtual
    /// /proc lists only the sandbox's processes); nil leaves it to the kernel.
    mutating func listDirectory(_ call: TrappedCall) -> SupervisorState.Verdict? {
        let count = Int(min(call.args[2], 1 << 20))
        return directories.read(pid: call.pid, fd: Int32(truncatingIfNeeded: call.args[0]), buffer: call.args[1],
                                count: count, stillPending: call.stillPending) { [procView, sortDirectories] (directory: borrowing FileDescriptor) in
            let keep = procView.flatMap { $0.isProcRoot(directory) ? $0.listingFilter() : nil }
            guard sortDirectories || keep != nil else { return nil }
            return .init(sorted: sortDirectories, keep: keep)
        }
    }

    /// connect, sendto, sendmsg, bind, getsockname through the network gate.
    mutating func gateNetwork(_ call: TrappedCall) -> SupervisorState.Verdict? {
        guard var network else { return nil }
        let (pid, args, stillPending) = (call.pid, call.args, call.stillPending)
        let fd = Int32(truncatingIfNeeded: args[0])
        let decision: NetworkGate.Decision
        switch call.nr {
        case Syscall.connect: decision = network.connect(pid: pid, fd: fd, address: args[1], length: args[2], stillPending: stillPending)
        case Syscall.sendto: decision = network.sendto(pid: pid, args: args, stillPending: stillPending)
        case Syscall.sendmsg: decision = network.sendmsg(pid: pid, args: args, stillPending: stillPending)
        case Syscall.bind:
            decision = network.bind(pid: pid, fd: fd, address: args[1], length: args[2], allowed: bindablePorts, stillPending: stillPending)
        case Syscall.getsockname: decision = network.localName(pid: pid, args: args, stillPending: stillPending)
        default: return nil
        }
        // A new port mapping goes to the registry (a file write: the worker pool's, not the
        // event thread's) before the call returns, so `sandlock ps` shows it once the
        // process has its port.
        var registryUpdate: (@Sendable () -> Void)?
        if network.ports != self.network?.ports, let registration {
            let mapping = network.ports.mapping
            registryUpdate = { registration.ports(mapping) }
        }
        self.network = network
        switch decision {
        case .proceed: return .proceed
        case .fail(let error): return .fail(error)
        case .onBehalf(let work): return .onBehalf(work)
        case .done: return registryUpdate.map { .valueAfter(0, $0) } ?? .value(0)
        case .denied(let destination):
            deniedConnections[destination, default: 0] += 1
            return .fail(ECONNREFUSED)
        }
    }
}
