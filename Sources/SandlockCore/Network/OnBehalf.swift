#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// A network call the supervisor performs for a sandboxed process, on a duplicate of its
/// socket (pidfd_getfd) with arguments read once into our memory. Runs on the worker pool:
/// a connect or a send may block, the event loop must not.
struct OnBehalf: Sendable {
    enum Operation: Sendable {
        case connect(address: [UInt8])
        case send(data: [UInt8], flags: Int32, address: [UInt8]?)
        /// A connect to an abstract unix name, kept only when the listener is a process under
        /// `initPID` (Landlock's abstract scope, which a connect on behalf would bypass).
        case connectAbstract(address: [UInt8], initPID: pid_t)
        /// A connect to an intercepted HTTP port: the socket is connected to the proxy and the
        /// preamble (secret, original destination) written before the process gets it back.
        case connectThroughProxy(proxy: [UInt8], preamble: [UInt8])
    }

    /// Our duplicate of the process's socket; closed when the operation is done.
    let socket: SharedDescriptor
    let operation: Operation
    /// What the address refers to and must stay open until the call is made (the O_PATH
    /// descriptor of a checked unix socket, named by `/proc/self/fd/N`).
    var pinned: SharedDescriptor? = nil

    /// Performs the call: the value to return, or a positive errno.
    func perform() -> (value: Int64, error: Int32) {
        let socket = self.socket.rawValue
        let result: Int
        switch operation {
        case .connect(let address):
            result = address.withUnsafeBytes { raw in
                Int(Glibc.connect(socket, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count)))
            }
        case let .connectAbstract(address, initPID):
            let rc = address.withUnsafeBytes { raw in
                Int(Glibc.connect(socket, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count)))
            }
            if rc == 0 && !UnixSocketGate.peerIsInside(self.socket, initPID: initPID) {
                // Connected to a listener outside the sandbox: undo what we can, answer as
                // Landlock's scope would have.
                _ = shutdown(socket, Int32(SHUT_RDWR))
                return (0, EPERM)
            }
            result = rc
        case let .connectThroughProxy(proxy, preamble):
            return OnBehalf.connect(self.socket, throughProxy: proxy, preamble: preamble)
        case let .send(data, flags, address):
            result = data.withUnsafeBytes { payload in
                if let address {
                    return address.withUnsafeBytes { raw in
                        sendto(socket, payload.baseAddress, payload.count, flags,
                               raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
                    }
                }
                return Glibc.send(socket, payload.baseAddress, payload.count, flags)
            }
        }
        return result < 0 ? (0, errno) : (Int64(result), 0)
    }
}

extension OnBehalf {
    /// Connects `socket` to the proxy's loopback listener, writes the preamble and takes the
    /// proxy's one-byte answer off the stream; a non-blocking socket is waited for, and the
    /// process gets 0 or the destination's errno either way, so it never writes before the
    /// preamble nor reads the answer.
    static func connect(_ socket: SharedDescriptor, throughProxy proxy: [UInt8], preamble: [UInt8]) -> (value: Int64, error: Int32) {
        let fd = socket.rawValue
        let rc = proxy.withUnsafeBytes { raw in
            Glibc.connect(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        if rc != 0 {
            guard errno == EINPROGRESS else { return (0, errno) }
            var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard (try? retryingInterrupts({ poll(&ready, 1, 5000) })) == 1,
                  NetworkGate.socketError(socket) == 0 else { return (0, ECONNREFUSED) }
        }
        let sent = preamble.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        // The proxy's answer: 0 once it reached the destination, else its connect's errno,
        // which the process gets as its own connect's.
        var answer = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var status = UInt8(ECONNREFUSED)
        if sent == preamble.count, (try? retryingInterrupts({ poll(&answer, 1, 130_000) })) == 1,
           recv(fd, &status, 1, Int32(MSG_DONTWAIT)) == 1, status == 0 {
            return (0, 0)
        }
        _ = shutdown(fd, Int32(SHUT_RDWR))
        return (0, status == 0 ? ECONNREFUSED : Int32(status))
    }
}

/// The supervisor's network decisions for one sandbox: connects and sends on IP sockets are
/// checked against the allowlist and performed on behalf; other sockets (unix) pass to the
/// kernel, which checks their address family against the socket's own.
struct NetworkGate {
    let allowlist: NetworkAllowlist
    /// With port_remap: the sandbox's virtual ports and the real ones they are bound to.
    var ports = PortMap()

    enum Decision {
        case proceed
        case fail(Int32)
        case onBehalf(OnBehalf)
        /// The allowlist refused this destination ("ip:port", or "peer" when unknown).
        case denied(String)
        /// Done on behalf, synchronously: the call returns 0.
        case done
    }

    func connect(pid: pid_t, socket: SharedDescriptor, address: UInt64, length: UInt64, stillPending: () -> Bool) -> Decision {
        guard length <= 128, let bytes = ChildMemory.read(pid, address, count: Int(length)), stillPending() else {
            return .fail(length > 128 ? EINVAL : EFAULT)
        }
        // AF_UNSPEC dissolves a UDP association: nothing to check.
        if SocketAddress.family(bytes) == AF_UNSPEC { return .onBehalf(OnBehalf(socket: socket, operation: .connect(address: bytes))) }
        guard let destination = SocketAddress(bytes: bytes), allowlist.allows(destination.address, port: destination.port) else {
            return .denied(SocketAddress(bytes: bytes)?.description ?? "unknown")
        }
        // An intercepted HTTP port: the proxy, told where the process meant to go.
        if let route = allowlist.proxyRoute, route.ports.contains(destination.port), !NetworkGate.isDatagram(socket) {
            let preamble = route.preamble(for: destination, names: allowlist.names(of: destination.address))
            return .onBehalf(OnBehalf(socket: socket, operation: .connectThroughProxy(proxy: route.listener, preamble: preamble)))
        }
        // A loopback connect to one of the sandbox's own virtual ports reaches its real port.
        let target = destination.isLoopback ? ports.real(for: destination.port).map { SocketAddress.withPort(bytes, $0) } ?? bytes : bytes
        return .onBehalf(OnBehalf(socket: socket, operation: .connect(address: target)))
    }

    /// bind(fd, address, length) with port_remap: binds on behalf, to the asked port when it is
    /// free, else to a free one the sandbox never sees (getsockname answers the virtual port).
    /// The port must be in `net_bind`, as Landlock would require.
    /// bind(2) on behalf: the port must be in `allowed` (`net_bind`; TCP's port 0 only when 0
    /// is in it). With `remap`, the asked port is virtual (see below); without, it is bound as asked.
    mutating func bind(pid: pid_t, socket: SharedDescriptor, address: UInt64, length: UInt64, allowed: Set<UInt16>,
                       remap: Bool, stillPending: () -> Bool) -> Decision {
        guard length <= 128, let bytes = ChildMemory.read(pid, address, count: Int(length)), stillPending() else {
            return .fail(length > 128 ? EINVAL : EFAULT)
        }
        guard let requested = SocketAddress(bytes: bytes) else { return .fail(EAFNOSUPPORT) }
        let stream = !NetworkGate.isDatagram(socket)
        // An ephemeral TCP port is a port outside net_bind (Landlock refuses bind(0) unless 0
        // is granted); UDP's port 0 is every client's.
        if requested.port == 0 { return !stream || allowed.contains(0) ? Self.bindNow(socket, bytes) : .fail(EACCES) }
        guard allowed.contains(requested.port) else { return .fail(EACCES) }
        guard remap else { return Self.bindNow(socket, bytes) }
        // The asked port, bound exclusively: with SO_REUSEADDR two sockets that do not listen
        // yet may share a port (the second listen() then fails EADDRINUSE), and with
        // SO_REUSEPORT two sandboxes of one user would share a listener. Without them the bind
        // fails while anything else holds the port, and the sandbox gets a free one instead.
        if ports.real(for: requested.port) == nil, case .done = Self.bindExclusively(socket, bytes) {
            ports.record(virtual: requested.port, real: requested.port)
            return .done
        }
        // Taken (by another sandbox, or by the host): any free port, remembered.
        let anyPort = SocketAddress.withPort(bytes, 0)
        guard case .done = Self.bindNow(socket, anyPort), let real = NetworkGate.localPort(socket) else { return .fail(EADDRINUSE) }
        ports.record(virtual: requested.port, real: real)
        return .done
    }

    /// getsockname(fd, address, length) with port_remap: the virtual port, not the real one.
    func localName(pid: pid_t, socket: SharedDescriptor, args: [UInt64], stillPending: () -> Bool) -> Decision {
        guard var bytes = NetworkGate.address(of: socket, getsockname) else { return .fail(errno) }
        if let name = SocketAddress(bytes: bytes), let virtual = ports.virtual(for: name.port) {
            bytes = SocketAddress.withPort(bytes, virtual)
        }
        guard let capacityBytes = ChildMemory.read(pid, args[2], count: 4), stillPending() else { return .fail(EFAULT) }
        let capacity = Int(UInt32(capacityBytes[0]) | UInt32(capacityBytes[1]) << 8 | UInt32(capacityBytes[2]) << 16 | UInt32(capacityBytes[3]) << 24)
        guard ChildMemory.write(pid, args[1], Array(bytes.prefix(capacity))),
              ChildMemory.write(pid, args[2], value: UInt32(bytes.count)) else { return .fail(EFAULT) }
        return .done
    }

    /// bind(2) with SO_REUSEADDR and SO_REUSEPORT off for the call, then restored.
    private static func bindExclusively(_ socket: SharedDescriptor, _ address: [UInt8]) -> Decision {
        let saved = [SO_REUSEADDR, SO_REUSEPORT].map { ($0, option(socket, $0) ?? 0) }
        func set(_ name: Int32, _ value: Int32) {
            var value = value
            _ = setsockopt(socket.rawValue, SOL_SOCKET, name, &value, socklen_t(4))
        }
        for (name, value) in saved where value != 0 { set(name, 0) }
        let decision = bindNow(socket, address)
        for (name, value) in saved where value != 0 { set(name, value) }
        return decision
    }

    private static func bindNow(_ socket: SharedDescriptor, _ address: [UInt8]) -> Decision {
        let rc = address.withUnsafeBytes { raw in
            Glibc.bind(socket.rawValue, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        return rc == 0 ? .done : .fail(errno)
    }

    static func localPort(_ socket: SharedDescriptor) -> UInt16? {
        address(of: socket, getsockname).flatMap(SocketAddress.init(bytes:))?.port
    }

    /// The sockaddr bytes getsockname(2) or getpeername(2) gives for `socket`, or nil (errno set).
    static func address(of socket: SharedDescriptor,
                                _ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) -> [UInt8]? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(socket.rawValue, $0, &length) }
        }
        guard rc == 0 else { return nil }
        return withUnsafeBytes(of: storage) { Array($0.prefix(Int(length))) }
    }

    /// sendto(fd, buffer, length, flags, address, addressLength), trapped when an address is given.
    func sendto(pid: pid_t, socket: SharedDescriptor, args: [UInt64], stillPending: () -> Bool) -> Decision {
        let count = Int(min(args[2], 1 << 20))
        guard args[5] <= 128, let address = ChildMemory.read(pid, args[4], count: Int(args[5])),
              let data = count == 0 ? [] : ChildMemory.read(pid, args[1], count: count), stillPending() else {
            return .fail(EFAULT)
        }
        guard let destination = SocketAddress(bytes: address), allowlist.allows(destination.address, port: destination.port) else {
            return .denied(SocketAddress(bytes: address)?.description ?? "unknown")
        }
        return .onBehalf(OnBehalf(socket: socket, operation: .send(data: data, flags: Int32(truncatingIfNeeded: args[3]), address: address)))
    }

    /// sendmsg(fd, msghdr, flags): the destination (msg_name, or a datagram socket's peer) is
    /// checked and the gathered data sent on behalf; control messages are refused.
    func sendmsg(pid: pid_t, socket: SharedDescriptor, args: [UInt64], stillPending: () -> Bool) -> Decision {
        func fail(_ error: Int32) -> Decision { .fail(error) }
        // The process's struct msghdr and iovec array, read into ours (same ABI: a native call).
        guard let headerBytes = ChildMemory.read(pid, args[1], count: MemoryLayout<msghdr>.size) else { return fail(EFAULT) }
        let header = headerBytes.withUnsafeBytes { $0.loadUnaligned(as: msghdr.self) }
        let namePointer = UInt64(UInt(bitPattern: header.msg_name)), nameLength = UInt64(header.msg_namelen)
        let iovPointer = UInt64(UInt(bitPattern: header.msg_iov)), iovCount = UInt64(header.msg_iovlen)
        guard header.msg_controllen == 0 else { return fail(EPERM) }
        let vectorSize = MemoryLayout<iovec>.size
        guard iovCount <= 1024, let vectors = iovCount == 0 ? [] : ChildMemory.read(pid, iovPointer, count: Int(iovCount) * vectorSize) else {
            return fail(EINVAL)
        }
        var data: [UInt8] = []
        for index in 0..<Int(iovCount) {
            let vector = vectors.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index * vectorSize, as: iovec.self) }
            let base = UInt64(UInt(bitPattern: vector.iov_base)), length = UInt64(vector.iov_len)
            guard data.count + Int(length) <= 1 << 20 else { return fail(EMSGSIZE) }
            if length > 0 {
                guard let chunk = ChildMemory.read(pid, base, count: Int(length)) else { return fail(EFAULT) }
                data += chunk
            }
        }
        var address: [UInt8]?
        if namePointer != 0 {
            guard nameLength <= 128, let bytes = ChildMemory.read(pid, namePointer, count: Int(nameLength)) else { return fail(EFAULT) }
            address = bytes
        }
        guard stillPending() else { return fail(EINTR) }
        let destination = address.flatMap(SocketAddress.init(bytes:)) ?? (NetworkGate.isDatagram(socket) ? NetworkGate.peer(socket) : nil)
        if address != nil || NetworkGate.isDatagram(socket) {
            guard let destination, allowlist.allows(destination.address, port: destination.port) else {
                return .denied(destination?.description ?? "unknown")
            }
        }
        return .onBehalf(OnBehalf(socket: socket, operation: .send(data: data, flags: Int32(truncatingIfNeeded: args[2]), address: address)))
    }

    static func duplicate(_ fd: Int32, of pid: pid_t) -> SharedDescriptor? {
        let raw = csl_pidfd_open(pid)
        guard raw >= 0 else { return nil }
        let pidfd = FileDescriptor(adopting: raw)
        let socket = csl_pidfd_getfd(pidfd.rawValue, fd)
        return socket >= 0 ? SharedDescriptor(FileDescriptor(adopting: socket)) : nil
    }

    static func option(_ socket: SharedDescriptor, _ name: Int32) -> Int32? {
        var value: Int32 = 0
        var length = socklen_t(4)
        return getsockopt(socket.rawValue, SOL_SOCKET, name, &value, &length) == 0 ? value : nil
    }

    /// The socket's own domain (SO_DOMAIN), not anything the process wrote.
    static func isIP(_ socket: SharedDescriptor) -> Bool {
        let domain = option(socket, SO_DOMAIN)
        return domain == AF_INET || domain == AF_INET6
    }

    /// SO_ERROR: the outcome of a non-blocking connect.
    static func socketError(_ socket: SharedDescriptor) -> Int32? {
        var value: Int32 = 0
        var length = socklen_t(4)
        return getsockopt(socket.rawValue, SOL_SOCKET, SO_ERROR, &value, &length) == 0 ? value : nil
    }

    static func isDatagram(_ socket: SharedDescriptor) -> Bool {
        option(socket, SO_TYPE) != Int32(SOCK_STREAM.rawValue)
    }

    /// The sandbox's stdio (nil: the caller's own stream of that number) must hold no datagram
    /// socket the supervisor cannot follow: its sendmsg may name any destination, behind a
    /// pointer BPF cannot read, and sendmsg is trapped (and made on behalf) only for IP
    /// sockets under allow_udp/allow_icmp. Datagram sockets made inside are gated at
    /// socket(); stdio is all that survives into the sandbox (close_range).
    static func refuseDatagramStdio(_ stdio: [SharedDescriptor?], policy: Policy) throws(SandboxError) {
        let names = ["stdin", "stdout", "stderr"]
        for (index, given) in stdio.enumerated() {
            guard let stream = given ?? inheritedStream(index),
                  let type = option(stream, SO_TYPE), type != Int32(SOCK_STREAM.rawValue),
                  type != Int32(SOCK_SEQPACKET.rawValue) else { continue }  // connected: no destination
            let domain = option(stream, SO_DOMAIN) ?? 0
            let gated = (domain == AF_INET || domain == AF_INET6) && DatagramHandler.isNeeded(by: policy) && !policy.noSupervisor
            if !gated {
                throw .invalidPolicy("\(names[index]) is a datagram socket (family \(domain), type \(type)): a sandbox could send from it to any destination (sendmsg's address is out of the supervisor's reach); give the command a pipe, a file or a stream socket\(domain == AF_INET || domain == AF_INET6 ? ", or allow UDP (--allow-udp: destinations checked against --net-allow)" : "")")
            }
        }
    }

    /// A duplicate of the caller's own stream `index` (0, 1, 2), or nil when it is closed.
    private static func inheritedStream(_ index: Int) -> SharedDescriptor? {
        guard let stream = StandardStream(rawValue: Int32(index)) else { return nil }
        do { return SharedDescriptor(try stream.duplicate()) } catch { return nil }
    }

    private static func peer(_ socket: SharedDescriptor) -> SocketAddress? {
        address(of: socket, getpeername).flatMap(SocketAddress.init(bytes:))
    }
}

/// A sandbox's virtual port space: the ports it asked for and the real ones they got.
struct PortMap: Sendable, Equatable {
    private(set) var mapping: [UInt16: UInt16] = [:]

    mutating func record(virtual: UInt16, real: UInt16) { mapping[virtual] = real }
    func real(for virtual: UInt16) -> UInt16? { mapping[virtual] }
    func virtual(for real: UInt16) -> UInt16? { mapping.first { $0.value == real }?.key }
}
