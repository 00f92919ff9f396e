#if canImport(Glibc)
import Glibc
#endif
import CSandlockTLS
import SandlockCore

/// Where the supervisor says the sandbox meant to connect (the preamble's line).
struct OriginalDestination {
    /// Numeric, as `inet_ntop` writes it.
    let address: String
    let port: UInt16
    /// The pinned names that resolved to the address.
    let names: [String]

    /// The names a Host header or SNI may use: the pinned names and the address itself.
    var acceptedHosts: [String] { names + [address.contains(":") ? "[\(address)]" : address] }
}

/// One sandbox connection: the preamble, TLS interception when the first byte is a TLS
/// handshake and a CA is loaded, then every request judged before it is forwarded to the
/// original destination (never to where `Host` points). Used by its own thread only.
final class ProxyConnection: @unchecked Sendable {
    let configuration: ProxyConfiguration
    let client: SharedDescriptor
    private var upstream: (reader: Reader, transport: any Transport)?
    /// The connection to the destination made when the sandbox connected, not yet used.
    private var connected: SharedDescriptor?

    init(configuration: ProxyConfiguration, client: SharedDescriptor) {
        self.configuration = configuration
        self.client = client
    }

    func run() {
        guard let destination = readPreamble() else { return SocketTransport(client).close() }
        // The supervisor waits for this byte (0, or the errno of our connect to the
        // destination) and answers the sandbox's connect() with it: a refused destination
        // is refused, as a direct connect would be.
        var status = UInt8(0)
        switch Self.openSocket(to: destination) {
        case .success(let socket): connected = socket
        case .failure(let error): status = UInt8(truncatingIfNeeded: error.rawValue == 0 || error.rawValue > 255 ? ECONNREFUSED : error.rawValue)
        }
        guard send(client.rawValue, &status, 1, Int32(MSG_NOSIGNAL)) == 1, status == 0 else { return SocketTransport(client).close() }
        var byte: UInt8 = 0
        let peeked = recv(client.rawValue, &byte, 1, Int32(MSG_PEEK))
        guard peeked == 1 else { return SocketTransport(client).close() }
        let transport: any Transport
        var serverName: String?
        if byte == 0x16, let authority = configuration.authority {
            var error = [CChar](repeating: 0, count: 512)
            let names = destination.names.joined(separator: ",")
            guard let session = csl_tls_accept(authority, client.rawValue, names, &error, error.count) else {
                configuration.denials.record("TLS \(destination.address):\(destination.port) (\(text(error)))")
                return SocketTransport(client).close()
            }
            let tls = TLSTransport(client, session: session)
            serverName = tls.serverName
            transport = tls
        } else {
            transport = SocketTransport(client)
        }
        serve(Reader(transport), destination: destination, serverName: serverName)
        transport.close()
        upstream?.transport.close()
        connected.map { SocketTransport($0).close() }
    }

    /// `SANDLOCK-HTTP/1 SECRET ADDRESS PORT NAMES`, written by the supervisor before the
    /// sandbox could write anything; a connection without the secret is dropped.
    private func readPreamble() -> OriginalDestination? {
        var bytes = [UInt8](repeating: 0, count: 1024)
        let count = bytes.withUnsafeMutableBytes { recv(client.rawValue, $0.baseAddress, $0.count, Int32(MSG_PEEK)) }
        guard count > 0, let newline = bytes.prefix(count).firstIndex(of: 10) else { return nil }
        _ = bytes.withUnsafeMutableBytes { recv(client.rawValue, $0.baseAddress, newline + 1, 0) }
        let words = String(decoding: bytes[..<newline], as: UTF8.self).split(separator: " ").map(String.init)
        guard words.count == 5, words[0] == HTTPProxyRoute.magic, constantTimeEqual(words[1], configuration.secret),
              let port = UInt16(words[3]) else { return nil }
        return OriginalDestination(address: words[2], port: port, names: words[4] == "-" ? [] : words[4].split(separator: ",").map(String.init))
    }

    private func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Requests until the client or the server ends the connection, or one is refused
    /// in a way that leaves the stream's framing unknown.
    private func serve(_ client: Reader, destination: OriginalDestination, serverName: String?) {
        while true {
            let raw: [UInt8]
            switch client.head(limit: 64 << 10) {
            case .head(let bytes): raw = bytes
            case .end: return
            case .tooLarge: return refuse(client, 431, "request head larger than 64 KiB", label: "request")
            case .broken: return refuse(client, 400, "connection closed inside a request head", label: "request")
            }
            let request: CheckedRequest
            do throws(MessageHead.Malformed) {
                request = try CheckedRequest(raw, destination: destination, serverName: serverName)
            } catch {
                return refuse(client, 400, error.reason, label: "request to \(destination.address):\(destination.port)")
            }
            let verdict = configuration.rules.verdict(method: request.method, host: request.host, port: destination.port, path: request.path)
            if case .denied(let rule) = verdict {
                let reason = rule ?? "no http_allow rule matches"
                configuration.denials.record("\(request.label) (\(reason))")
                let keepOpen = request.framing == .none && !request.closes
                respond(client, 403, "Blocked by sandlock: \(request.label) (\(reason))", close: !keepOpen)
                if keepOpen { continue }
                return
            }
            guard forward(request, from: client, to: destination, serverName: serverName) else { return }
        }
    }

    /// Sends the request and its body upstream, relays the response; false when the
    /// connection is over.
    private func forward(_ request: CheckedRequest, from client: Reader, to destination: OriginalDestination, serverName: String?) -> Bool {
        if upstream == nil {
            guard let opened = connectUpstream(destination, serverName: serverName) else {
                respond(client, 502, "sandlock: cannot reach \(destination.address):\(destination.port)", close: true)
                return false
            }
            upstream = opened
        }
        guard let (serverReader, server) = upstream, server.write(request.head) else { return false }
        switch request.framing {
        case .none, .untilClose: break
        case .length(let length): guard Relay.counted(length, from: client, to: server) else { return false }
        case .chunked:
            guard Relay.chunked(from: client, to: server) else {
                respond(client, 400, "malformed chunked body", close: true)
                return false
            }
        }
        switch Relay.response(for: request.method, from: serverReader, to: client.transport) {
        case .keepAlive: return !request.closes
        case .close:
            // The server ended its side (or broke the framing): so does the client's.
            return false
        case .upgraded:
            guard request.upgrades else { return false }
            Relay.tunnel(client, serverReader)
            return false
        }
    }

    private func connectUpstream(_ destination: OriginalDestination, serverName: String?) -> (Reader, any Transport)? {
        let opened: SharedDescriptor
        if let connected {
            opened = connected
            self.connected = nil
        } else {
            guard case .success(let socket) = Self.openSocket(to: destination) else { return nil }
            opened = socket
        }
        guard let serverName, let authority = configuration.authority else {
            let transport = SocketTransport(opened)
            return (Reader(transport), transport)
        }
        var error = [CChar](repeating: 0, count: 512)
        guard let session = csl_tls_connect(authority, opened.rawValue, serverName, &error, error.count) else {
            configuration.denials.record("TLS upstream \(serverName):\(destination.port) (\(text(error)))")
            return nil
        }
        let transport = TLSTransport(opened, session: session)
        return (Reader(transport), transport)
    }

    /// A TCP connection to the original destination.
    private static func openSocket(to destination: OriginalDestination) -> Result<SharedDescriptor, Errno> {
        let v6 = destination.address.contains(":")
        let raw = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard raw >= 0 else { return .failure(.current) }
        let socket = SharedDescriptor(FileDescriptor(adopting: raw))
        var storage = sockaddr_storage()
        let length: Int
        if v6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = destination.port.bigEndian
            guard inet_pton(AF_INET6, destination.address, &address.sin6_addr) == 1 else { return .failure(.EINVAL) }
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: address, Array.init)) }
            length = MemoryLayout<sockaddr_in6>.size
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = destination.port.bigEndian
            guard inet_pton(AF_INET, destination.address, &address.sin_addr) == 1 else { return .failure(.EINVAL) }
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: address, Array.init)) }
            length = MemoryLayout<sockaddr_in>.size
        }
        let connected = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(raw, $0, socklen_t(length)) }
        }
        guard connected == 0 else { return .failure(.current) }
        var noDelay: Int32 = 1
        _ = setsockopt(raw, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, 4)
        return .success(socket)
    }

    private func refuse(_ client: Reader, _ status: Int, _ reason: String, label: String) {
        configuration.denials.record("\(label) (\(status): \(reason))")
        respond(client, status, "sandlock: \(reason)", close: true)
    }

    private func respond(_ client: Reader, _ status: Int, _ body: String, close: Bool) {
        let reasons = [400: "Bad Request", 403: "Forbidden", 431: "Request Header Fields Too Large", 502: "Bad Gateway"]
        let text = body + "\n"
        let head = "HTTP/1.1 \(status) \(reasons[status] ?? "Error")\r\nContent-Type: text/plain\r\nContent-Length: \(text.utf8.count)\r\n"
            + "Connection: \(close ? "close" : "keep-alive")\r\n\r\n"
        _ = client.transport.write(Array((head + text).utf8))
    }
}

/// A request head checked against the connection's destination: one authority (Host, or
/// an absolute-form target that agrees with it) that names the destination, a normalized
/// path, an unambiguous body framing.
struct CheckedRequest {
    let method: String
    /// Lower case, no trailing dot.
    let host: String
    /// Normalized, without the query.
    let path: String
    let framing: MessageHead.Framing
    /// The head to send upstream (origin-form, the normalized path).
    let head: [UInt8]
    /// Connection: close, or HTTP/1.0 without keep-alive.
    let closes: Bool
    /// Upgrade asked for (WebSocket, h2c): tunnelled after a 101, this request being allowed.
    let upgrades: Bool
    let label: String

    init(_ raw: [UInt8], destination: OriginalDestination, serverName: String?) throws(MessageHead.Malformed) {
        func bad(_ reason: String) -> MessageHead.Malformed { MessageHead.Malformed(reason: reason) }
        let head = try MessageHead(parsing: raw)
        let (method, target, version) = (head.startLine[0], head.startLine[1], head.startLine[2])
        guard method != "CONNECT" else { throw bad("CONNECT is not proxied") }
        let hosts = head.values("host")
        guard hosts.count <= 1 else { throw bad("several Host headers") }
        if hosts.isEmpty && version == "HTTP/1.1" { throw bad("no Host header") }
        var originForm = target
        var authority = hosts.first
        if !target.hasPrefix("/") {
            let scheme = serverName == nil ? "http://" : "https://"
            guard target.lowercased().hasPrefix(scheme) else { throw bad("request target '\(target)' is neither a path nor \(scheme)…") }
            let rest = target.dropFirst(scheme.count)
            let end = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            let targetAuthority = String(rest[..<end])
            guard authority == nil || CheckedRequest.sameAuthority(targetAuthority, authority!) else {
                throw bad("the absolute-form target names '\(targetAuthority)' and Host '\(authority!)'")
            }
            authority = targetAuthority
            originForm = rest[end...].hasPrefix("/") ? String(rest[end...]) : "/" + rest[end...]
        }
        guard !originForm.contains("#") else { throw bad("fragment in the request target") }
        let host: String
        if let authority {
            guard let (name, port) = CheckedRequest.split(authority) else { throw bad("bad Host '\(authority)'") }
            if let port, port != destination.port { throw bad("Host '\(authority)' names port \(port), the connection goes to \(destination.port)") }
            guard destination.acceptedHosts.contains(name) else {
                throw bad("Host '\(authority)' does not name \(destination.address) (resolved from \(destination.names.isEmpty ? "no pinned name" : destination.names.joined(separator: ", ")))")
            }
            if let serverName, serverName != name { throw bad("Host '\(authority)' is not the TLS server name '\(serverName)'") }
            host = name
        } else {
            host = serverName ?? destination.acceptedHosts[0]
        }
        let query = originForm.firstIndex(of: "?").map { String(originForm[$0...]) } ?? ""
        guard let path = HTTPPath.normalized(String(originForm.prefix { $0 != "?" })) else { throw bad("bad path in '\(target)'") }
        framing = try head.requestFraming(version: version)
        let connection = head.tokens("connection")
        closes = connection.contains("close") || (version == "HTTP/1.0" && !connection.contains("keep-alive"))
        upgrades = !head.values("upgrade").isEmpty
        self.method = method
        self.host = host
        self.path = path
        self.head = head.serialized(startLine: "\(method) \(path)\(query) \(version)")
        label = "\(method) \(host):\(destination.port)\(path)"
    }

    /// `name[:port]` or `[v6][:port]`, the name lower-cased without a trailing dot.
    static func split(_ authority: String) -> (String, UInt16?)? {
        guard !authority.contains("@"), !authority.isEmpty else { return nil }
        var name = authority.lowercased(), port: UInt16?
        if let colon = name.lastIndex(of: ":"), !name.hasSuffix("]") {
            guard let number = UInt16(name[name.index(after: colon)...]) else { return nil }
            port = number
            name = String(name[..<colon])
        }
        if name.hasSuffix(".") { name.removeLast() }
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || ".-[]:".contains($0) }), name.allSatisfy(\.isASCII) else { return nil }
        return (name, port)
    }

    static func sameAuthority(_ a: String, _ b: String) -> Bool {
        guard let x = split(a), let y = split(b) else { return false }
        return x.0 == y.0 && x.1 == y.1
    }
}
