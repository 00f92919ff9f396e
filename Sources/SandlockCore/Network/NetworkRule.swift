#if canImport(Glibc)
import Glibc
#endif

/// One `net_allow` entry: `host:port[,port…]`, `:port` / `*:port` (any address), an IPv4 or
/// `[IPv6]` address, or a CIDR (`10.0.0.0/8:443`, `[fd00::/8]:443`). Ports are numbers,
/// ranges (`8000-8010`) or `*` (all). A destination is allowed when any rule matches it.
public struct NetworkRule: Sendable, Hashable {
    public enum Host: Sendable, Hashable {
        case any
        /// An IPv6 address or network (IPv4 as v4-mapped IPv6), `bits` long prefix.
        case network(address: [UInt8], bits: Int)
        /// Resolved once when the sandbox starts, then pinned.
        case name(String)
    }

    public enum Ports: Sendable, Hashable {
        case all
        case some(Set<UInt16>)

        func contains(_ port: UInt16) -> Bool {
            switch self {
            case .all: true
            case .some(let ports): ports.contains(port)
            }
        }
    }

    public var host: Host
    public var ports: Ports

    public init(parsing spec: String) throws(SandboxError) {
        func invalid(_ why: String) -> SandboxError {
            .invalidPolicy("net_allow: '\(spec)' \(why); expected host:port[,port…], :port, [v6]:port or cidr:port")
        }
        guard let colon = spec.lastIndex(of: ":"), !spec.hasSuffix(":") else { throw invalid("has no port") }
        var hostPart = String(spec[..<colon])
        let portPart = String(spec[spec.index(after: colon)...])
        if portPart == "*" {
            ports = .all
        } else {
            guard let list = Units.parsePorts(portPart) else { throw invalid("has a bad port list '\(portPart)'") }
            ports = .some(Set(list))
        }
        if hostPart.hasPrefix("[") {
            guard hostPart.hasSuffix("]") else { throw invalid("has an unclosed '['") }
            hostPart = String(hostPart.dropFirst().dropLast())
        }
        if hostPart.isEmpty || hostPart == "*" {
            host = .any
            return
        }
        let pieces = hostPart.split(separator: "/", maxSplits: 1).map(String.init)
        if let address = NetworkRule.parseAddress(pieces[0]) {
            let isV4 = !pieces[0].contains(":")
            var bits = 128
            if pieces.count == 2 {
                guard let prefix = Int(pieces[1]), prefix >= 0, prefix <= (isV4 ? 32 : 128) else {
                    throw invalid("has a bad prefix length")
                }
                bits = isV4 ? 96 + prefix : prefix
            }
            host = .network(address: address, bits: bits)
        } else {
            guard pieces.count == 1, pieces[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) else {
                throw invalid("names no valid host")
            }
            host = .name(pieces[0].lowercased())
        }
    }

    /// An IPv4 (as v4-mapped IPv6) or IPv6 address in 16 bytes.
    static func parseAddress(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return mapped(withUnsafeBytes(of: v4) { Array($0) })
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: v6) { Array($0) }
        }
        return nil
    }

    static func mapped(_ v4: [UInt8]) -> [UInt8] {
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] + v4
    }

    /// Does the rule allow `address` (16 bytes) and `port`, with names resolved in `names`?
    func allows(_ address: [UInt8], port: UInt16, names: [String: [[UInt8]]]) -> Bool {
        guard ports.contains(port) else { return false }
        switch host {
        case .any:
            return true
        case let .network(network, bits):
            return NetworkRule.prefix(address, network, bits)
        case .name(let name):
            return names[name]?.contains(address) ?? false
        }
    }

    private static func prefix(_ address: [UInt8], _ network: [UInt8], _ bits: Int) -> Bool {
        for bit in 0..<bits {
            let mask = UInt8(0x80) >> UInt8(bit % 8)
            if address[bit / 8] & mask != network[bit / 8] & mask { return false }
        }
        return true
    }
}

/// The allowlist of a sandbox, with host names resolved once, at start.
struct NetworkAllowlist: Sendable {
    let rules: [NetworkRule]
    /// Resolved addresses of every named host (16-byte form).
    let names: [String: [[UInt8]]]
    /// With HTTP rules: where connects to the intercepted ports go instead.
    var proxyRoute: HTTPProxyRoute?
    /// `net_deny`: refused whatever `rules` allow, with its names resolved apart (they are
    /// not pinned in the sandbox's /etc/hosts).
    private(set) var denied: [NetworkRule] = []
    private(set) var deniedNames: [String: [[UInt8]]] = [:]

    init(_ specs: [String], deny: [String] = []) throws(SandboxError) {
        let (rules, names) = try NetworkAllowlist.resolved(specs)
        self.rules = rules
        self.names = names
        (denied, deniedNames) = try NetworkAllowlist.resolved(deny)
    }

    /// Rules parsed and their names resolved once.
    private static func resolved(_ specs: [String]) throws(SandboxError) -> ([NetworkRule], [String: [[UInt8]]]) {
        var rules: [NetworkRule] = []
        for spec in specs { rules.append(try NetworkRule(parsing: spec)) }
        var names: [String: [[UInt8]]] = [:]
        for rule in rules {
            guard case .name(let name) = rule.host, names[name] == nil else { continue }
            // localhost is loopback on both families, whatever the host's /etc/hosts says.
            let addresses = name == "localhost"
                ? [NetworkRule.parseAddress("127.0.0.1")!, NetworkRule.parseAddress("::1")!]
                : NetworkAllowlist.resolve(name)
            guard !addresses.isEmpty else {
                throw .invalidPolicy("net_allow: cannot resolve host '\(name)'")
            }
            names[name] = addresses
        }
        return (rules, names)
    }

    /// Only any-address rules: Landlock's TCP port rules enforce them with no supervisor.
    var landlockOnly: Bool { rules.allSatisfy { $0.host == .any } }

    /// Ports any address may be connected to (Landlock CONNECT_TCP rules); nil = all ports.
    static func anyAddressPorts(of rules: [NetworkRule]) -> Set<UInt16>? {
        var ports: Set<UInt16> = []
        for rule in rules where rule.host == .any {
            switch rule.ports {
            case .all: return nil
            case .some(let some): ports.formUnion(some)
            }
        }
        return ports
    }

    func allows(_ address: [UInt8], port: UInt16) -> Bool {
        !denied.contains { $0.allows(address, port: port, names: deniedNames) }
            && rules.contains { $0.allows(address, port: port, names: names) }
    }

    /// The sandbox's /etc/hosts: loopback, then every pinned name.
    var hostsFile: [UInt8] {
        var lines = ["127.0.0.1 localhost", "::1 localhost"]
        for (name, addresses) in names.sorted(by: { $0.key < $1.key }) where name != "localhost" {
            for address in addresses { lines.append("\(NetworkAllowlist.format(address)) \(name)") }
        }
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }

    static func resolve(_ name: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var addresses: [[UInt8]] = []
        var cursor = list
        while let entry = cursor?.pointee {
            if let address = entry.ai_addr.flatMap({ SocketAddress(raw: $0, length: Int(entry.ai_addrlen))?.address }),
               !addresses.contains(address) {
                addresses.append(address)
            }
            cursor = entry.ai_next
        }
        return addresses
    }

    static func format(_ address: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        if address.starts(with: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]) {
            var v4 = in_addr()
            withUnsafeMutableBytes(of: &v4) { $0.copyBytes(from: address[12...]) }
            inet_ntop(AF_INET, &v4, &buffer, 64)
        } else {
            var v6 = in6_addr()
            withUnsafeMutableBytes(of: &v6) { $0.copyBytes(from: address) }
            inet_ntop(AF_INET6, &v6, &buffer, 64)
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// An IP destination read from a sockaddr: 16-byte address (IPv4 v4-mapped) and port.
struct SocketAddress: CustomStringConvertible {
    var description: String {
        let text = NetworkAllowlist.format(address)
        return text.contains(":") ? "[\(text)]:\(port)" : "\(text):\(port)"
    }

    var address: [UInt8]
    var port: UInt16

    init?(bytes: [UInt8]) {
        guard bytes.count >= 2 else { return nil }
        let family = Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8)
        if family == AF_INET, bytes.count >= 8 {
            port = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
            address = NetworkRule.mapped(Array(bytes[4..<8]))
        } else if family == AF_INET6, bytes.count >= 24 {
            port = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
            address = Array(bytes[8..<24])
        } else {
            return nil
        }
    }

    init?(raw: UnsafePointer<sockaddr>, length: Int) {
        self.init(bytes: Array(UnsafeRawBufferPointer(start: raw, count: length)))
    }

    var isLoopback: Bool {
        address == NetworkRule.parseAddress("::1") || (address.starts(with: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]) && address[12] == 127)
    }

    /// The same sockaddr bytes with another port (bytes 2-3, network order, in both families).
    static func withPort(_ bytes: [UInt8], _ port: UInt16) -> [UInt8] {
        var copy = bytes
        copy[2] = UInt8(port >> 8)
        copy[3] = UInt8(port & 0xff)
        return copy
    }

    /// The address family of a sockaddr, read from its first two bytes.
    static func family(_ bytes: [UInt8]) -> Int32? {
        bytes.count >= 2 ? Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8) : nil
    }
}
