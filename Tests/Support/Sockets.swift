import Foundation

/// A TCP listener on a loopback address (127.0.0.1 by default, or ::1) with a kernel-chosen
/// port, or a given one.
public struct TCPListener {
    public let fd: Int32
    public let port: UInt16

    public init(address: String = "127.0.0.1", port requested: UInt16 = 0) throws {
        let v6 = address.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var storage = sockaddr_storage()
        var length: socklen_t
        if v6 {
            var address6 = sockaddr_in6()
            address6.sin6_family = sa_family_t(AF_INET6)
            address6.sin6_port = requested.bigEndian
            inet_pton(AF_INET6, address, &address6.sin6_addr)
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: address6, Array.init)) }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            var address4 = sockaddr_in()
            address4.sin_family = sa_family_t(AF_INET)
            address4.sin_port = requested.bigEndian
            address4.sin_addr.s_addr = inet_addr(address)
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: address4, Array.init)) }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 4096) == 0 else {
            Foundation.close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = withUnsafeBytes(of: storage) { UInt16($0[2]) << 8 | UInt16($0[3]) }
    }

    /// Connections accepted by the kernel and not yet taken: accepts them all, non-blocking.
    public func pendingConnections() -> Int { acceptPending(fd) }

    public func close() { _ = Foundation.close(fd) }
}

/// A free TCP port on loopback (bound, then released).
public func freeTCPPort() throws -> UInt16 {
    let listener = try TCPListener()
    listener.close()
    return listener.port
}

/// A listening abstract unix socket (`\0name`).
public struct AbstractListener {
    public let fd: Int32

    public init(name: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(name.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw[0] = 0
            for (index, byte) in bytes.enumerated() { raw[index + 1] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + bytes.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    public func close() { _ = Foundation.close(fd) }
}

/// Connects to 127.0.0.1:port and returns what the server says first.
public func readGreeting(port: UInt16) throws -> String {
    let connection = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { Foundation.close(connection) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = port.bigEndian
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(connection, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
    var buffer = [UInt8](repeating: 0, count: 64)
    let count = Foundation.read(connection, &buffer, 64)
    return String(decoding: buffer.prefix(max(0, count)), as: UTF8.self)
}

/// Accepts, without blocking, every connection the kernel queued on listening socket `fd`,
/// and returns how many there were.
public func acceptPending(_ fd: Int32) -> Int {
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    var count = 0
    while true {
        let client = accept(fd, nil, nil)
        if client < 0 { return count }
        Foundation.close(client)
        count += 1
    }
}

/// A listening path-named unix socket (stream), or a bound datagram one.
public struct UnixListener {
    public let fd: Int32
    public let path: String

    public init(path: String, datagram: Bool = false, backlog: Int32 = 4096) throws {
        let fd = socket(AF_UNIX, Int32(datagram ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
        self.fd = fd
        self.path = path
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, datagram || listen(fd, backlog) == 0 else { throw POSIXError(.EADDRINUSE) }
        chmod(path, 0o777) // reachable by an unprivileged test user too
    }

    /// Connections accepted by the kernel and not yet taken: accepts them all, non-blocking.
    public func pendingConnections() -> Int { acceptPending(fd) }

    public func close() { _ = Foundation.close(fd) }
}

/// A UDP socket on 127.0.0.1 with a kernel-chosen port, non-blocking.
public struct UDPReceiver {
    public let fd: Int32
    public let port: UInt16

    public init() {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        port = UInt16(bigEndian: address.sin_port)
    }

    /// Datagrams queued now (loopback delivers within the sender's call).
    public func received() -> Int {
        var count = 0
        var byte: UInt8 = 0
        while recv(fd, &byte, 1, 0) >= 0 { count += 1 }
        return count
    }

    public func close() { _ = Foundation.close(fd) }
}
