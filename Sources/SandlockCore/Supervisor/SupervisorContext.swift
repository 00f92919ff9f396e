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
    /// Named unix sockets: connects and sends gated by the writable trees and `unix_connect`.
    let unixSockets: UnixSocketGate
    /// Without a network gate: the `:port` rules Landlock enforces, checked here for the IP
    /// connects made on behalf (every connect is trapped, for its unix sockets).
    let directRules: NetworkAllowlist?
    let bindablePorts: Set<UInt16>
    /// port_remap: binds get virtual ports (otherwise binds are trapped only to check UDP's).
    let remapsPorts: Bool
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
        unixSockets = UnixSocketGate(policy: policy)
        let anyAddress = policy.netAllow.filter { ((try? NetworkRule(parsing: $0))?.host) == .any }
        directRules = try? NetworkAllowlist(anyAddress)
        bindablePorts = Set(policy.netBind)
        remapsPorts = policy.portRemap
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

    /// connect, sendto, sendmsg, bind, getsockname, listen: the socket is duplicated once
    /// (pidfd_getfd) and every decision is made on that duplicate, so a descriptor number
    /// re-pointed by another thread meanwhile changes nothing. Unix sockets go to the unix
    /// gate, IP sockets to the network gate (or the `:port` rules), and whatever is decided
    /// on a pointer argument is done on behalf, never continued.
    mutating func gateNetwork(_ call: TrappedCall) -> SupervisorState.Verdict? {
        let (pid, args, stillPending) = (call.pid, call.args, call.stillPending)
        let socketCalls = [Syscall.connect, Syscall.sendto, Syscall.sendmsg, Syscall.bind, Syscall.getsockname, Syscall.listen]
        guard socketCalls.contains(call.nr) else { return nil }
        guard let socket = NetworkGate.duplicate(Int32(truncatingIfNeeded: args[0]), of: pid) else { return .fail(EBADF) }
        let domain = NetworkGate.option(socket, SO_DOMAIN)
        if call.nr == Syscall.listen { return listen(socket, backlog: args[1]) }
        if domain == AF_UNIX, let verdict = gateUnix(call, socket) { return verdict }
        let isIP = domain == AF_INET || domain == AF_INET6
        guard var network, isIP else {
            // No network gate, or not an IP socket: only connect and sendto with an address
            // are trapped for it (bind/getsockname/sendmsg of port_remap and allow_udp are
            // the kernel's on non-IP sockets).
            // A datagram IP socket with no network gate was made before confinement (UDP and
            // ICMP sockets cannot be created without allow_udp/allow_icmp): no destination.
            if isIP && network == nil && NetworkGate.isDatagram(socket) && (call.nr == Syscall.connect || call.nr == Syscall.sendto) {
                return .fail(EACCES)
            }
            switch call.nr {
            case Syscall.connect:
                guard let bytes = readAddress(pid, args[1], args[2], stillPending) else { return .fail(args[2] > 128 ? EINVAL : EFAULT) }
                if isIP, let destination = SocketAddress(bytes: bytes), !(directRules?.allows(destination.address, port: destination.port) ?? false) {
                    return .fail(EACCES) // as Landlock's CONNECT_TCP would answer
                }
                return .onBehalf(OnBehalf(socket: socket, operation: .connect(address: bytes)))
            case Syscall.sendto:
                let count = Int(min(args[2], 1 << 20))
                guard let address = readAddress(pid, args[4], args[5], stillPending),
                      let data = count == 0 ? [] : ChildMemory.read(pid, args[1], count: count), stillPending() else { return .fail(EFAULT) }
                return .onBehalf(OnBehalf(socket: socket, operation: .send(data: data, flags: Int32(truncatingIfNeeded: args[3]), address: address)))
            default:
                return .proceed
            }
        }
        let decision: NetworkGate.Decision
        switch call.nr {
        case Syscall.connect: decision = network.connect(pid: pid, socket: socket, address: args[1], length: args[2], stillPending: stillPending)
        case Syscall.sendto: decision = network.sendto(pid: pid, socket: socket, args: args, stillPending: stillPending)
        case Syscall.sendmsg: decision = network.sendmsg(pid: pid, socket: socket, args: args, stillPending: stillPending)
        case Syscall.bind:
            decision = network.bind(pid: pid, socket: socket, address: args[1], length: args[2], allowed: bindablePorts,
                                    remap: remapsPorts, stillPending: stillPending)
        case Syscall.getsockname: decision = network.localName(pid: pid, socket: socket, args: args, stillPending: stillPending)
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

extension SupervisorContext {
    /// A sockaddr of at most 128 bytes, read once.
    func readAddress(_ pid: pid_t, _ pointer: UInt64, _ length: UInt64, _ stillPending: () -> Bool) -> [UInt8]? {
        guard length <= 128, let bytes = ChildMemory.read(pid, pointer, count: Int(length)), stillPending() else { return nil }
        return bytes
    }

    /// connect / sendto / sendmsg on a unix socket; nil leaves the call to the kernel.
    func gateUnix(_ call: TrappedCall, _ socket: SharedDescriptor) -> SupervisorState.Verdict? {
        let (pid, args, stillPending) = (call.pid, call.args, call.stillPending)
        let address: [UInt8]
        var data: [UInt8]?
        switch call.nr {
        case Syscall.connect:
            guard let bytes = readAddress(pid, args[1], args[2], stillPending) else { return .fail(args[2] > 128 ? EINVAL : EFAULT) }
            address = bytes
        case Syscall.sendto:
            let count = Int(min(args[2], 1 << 20))
            guard let bytes = readAddress(pid, args[4], args[5], stillPending),
                  let payload = count == 0 ? [] : ChildMemory.read(pid, args[1], count: count), stillPending() else { return .fail(EFAULT) }
            address = bytes
            data = payload
        case Syscall.sendmsg:
            // Trapped only with allow_udp. SOCK_DGRAM unix sockets cannot be created in a
            // sandbox; one inherited could name a destination here: refused, not judged.
            guard let header = ChildMemory.read(pid, args[1], count: MemoryLayout<msghdr>.size), stillPending() else { return .fail(EFAULT) }
            let name = header.withUnsafeBytes { $0.loadUnaligned(as: msghdr.self) }.msg_name
            return name != nil && NetworkGate.option(socket, SO_TYPE) == Int32(SOCK_DGRAM.rawValue) ? .fail(EACCES) : .proceed
        default:
            return nil
        }
        let flags = Int32(truncatingIfNeeded: call.nr == Syscall.sendto ? args[3] : 0)
        func perform(_ target: [UInt8], pinned: SharedDescriptor? = nil) -> SupervisorState.Verdict {
            let operation: OnBehalf.Operation = data.map { .send(data: $0, flags: flags, address: target) } ?? .connect(address: target)
            return .onBehalf(OnBehalf(socket: socket, operation: operation, pinned: pinned))
        }
        switch UnixSocketGate.target(of: address) {
        case .unnamed:
            return perform(address)
        case .abstract:
            // Landlock scopes abstract names to the sandbox; a connect made here would not
            // be scoped, so it is kept only when the listener is the sandbox's. Datagrams
            // have no listener to ask: refused.
            guard data == nil, NetworkGate.option(socket, SO_TYPE) != Int32(SOCK_DGRAM.rawValue) else { return .fail(EPERM) }
            return .onBehalf(OnBehalf(socket: socket, operation: .connectAbstract(address: address, initPID: initPID)))
        case .path(let path):
            switch unixSockets.pin(path, for: pid) {
            case .failure(let error): return .fail(error.rawValue)
            case .success(let (inode, magic)): return perform(magic, pinned: inode)
            }
        }
    }

    /// listen(fd, backlog): on an IP socket only on a port of `net_bind` (listen() on an
    /// unbound socket would take an ephemeral port no bind rule saw), made on our duplicate.
    /// A unix listen is the kernel's: made here, the listener would carry the supervisor's
    /// credentials (SO_PEERCRED of every client, and the abstract-socket check above). That
    /// leaves a race (see docs/security.md): another thread dup2-ing an unbound TCP socket
    /// onto the number between this check and the kernel's listen.
    func listen(_ socket: SharedDescriptor, backlog: UInt64) -> SupervisorState.Verdict {
        guard NetworkGate.isIP(socket) else { return .proceed }
        guard let port = NetworkGate.localPort(socket) else { return .fail(errno) }
        let virtual = network?.ports.virtual(for: port) ?? port
        guard bindablePorts.contains(0) || (port != 0 && bindablePorts.contains(virtual)) else { return .fail(EACCES) }
        return Glibc.listen(socket.rawValue, Int32(truncatingIfNeeded: backlog)) == 0 ? .value(0) : .fail(errno)
    }
}
