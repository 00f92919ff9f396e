#if canImport(Glibc)
import Glibc
#endif

/// What HTTP rules change in a policy: the intercepted ports, the `net_allow` entries the
/// rules imply, and the checks between the HTTP fields.
extension Policy {
    /// HTTP rules are set: connects to `httpInterceptedPorts` go through the proxy.
    public var interceptsHTTP: Bool { !httpAllow.isEmpty || !httpDeny.isEmpty }

    /// `http_ports` (80 when empty), and 443 when a CA is given.
    public var httpInterceptedPorts: Set<UInt16> {
        guard interceptsHTTP else { return [] }
        var ports = Set(httpPorts.isEmpty ? [80] : httpPorts)
        if httpsCA != nil { ports.insert(443) }
        return ports
    }

    /// Each rule's host on every intercepted port (`*` as `:port`, any address), so the
    /// proxy's destinations are reachable, as sandlock extends `--net-allow`.
    var httpNetAllowAdditions: [String] {
        guard interceptsHTTP, let rules = try? HTTPAccessList(allow: httpAllow, deny: httpDeny) else { return [] }
        let ports = httpInterceptedPorts.sorted().map(String.init).joined(separator: ",")
        var hosts: [String] = []
        // Deny rules too: with only deny rules, every other request to their hosts passes.
        for rule in rules.allow + rules.deny {
            let host = rule.concreteHost ?? ""
            if !hosts.contains(host) { hosts.append(host) }
        }
        return hosts.map { "\($0):\(ports)" }.filter { !netAllow.contains($0) }
    }

    /// The policy the engine runs: `net_allow` with the HTTP rules' additions.
    func withHTTPNetAllow() -> Policy {
        var expanded = self
        expanded.netAllow += httpNetAllowAdditions
        return expanded
    }

    /// Rules that parse, a CA with its key, and rule ports that are intercepted.
    func httpViolations() -> [PolicyViolation] {
        var found: [PolicyViolation] = []
        // Each rule's own syntax is its grammar's check (Policy+Validation).
        for (field, specs) in [("http_allow", httpAllow), ("http_deny", httpDeny)] {
            for (index, spec) in specs.enumerated() {
                if let port = (try? HTTPRule(parsing: spec))?.port, !httpInterceptedPorts.contains(port) {
                    found.append(PolicyViolation(field: field, "'\(spec)' names port \(port), which is not intercepted; add --http-port \(port)", item: index))
                }
            }
        }
        if (httpsCA == nil) != (httpsKey == nil) {
            found.append(PolicyViolation(field: httpsCA == nil ? "https_ca" : "https_key",
                                         "--https-ca and --https-key go together: give the CA certificate and its private key"))
        }
        if !interceptsHTTP && (!httpPorts.isEmpty || httpsCA != nil) {
            found.append(PolicyViolation(field: httpsCA != nil ? "https_ca" : "http_ports",
                                         "intercepts nothing without --http-allow or --http-deny rules"))
        }
        for (field, path) in [("https_ca", httpsCA), ("https_key", httpsKey)] {
            if let path, !path.hasPrefix("/") || path.contains("\n") {
                found.append(PolicyViolation(field: field, "must be an absolute path, got '\(path)'"))
            }
        }
        return found
    }
}

/// Where the supervisor sends a sandbox's connects to intercepted ports: the proxy's
/// loopback listener, and the secret that opens every connection's preamble (the proxy
/// drops a connection without it, so a sandbox that reaches the listener directly gets
/// nothing).
public struct HTTPProxyRoute: Sendable {
    /// sockaddr_in of the proxy's listener.
    let listener: [UInt8]
    let ports: Set<UInt16>
    let secret: String

    /// The first line on the connection, written by the supervisor before the sandbox can
    /// write: the original destination and the pinned names it was resolved from.
    func preamble(for destination: SocketAddress, names: [String]) -> [UInt8] {
        let address = NetworkAllowlist.format(destination.address)
        let list = names.isEmpty ? "-" : names.joined(separator: ",")
        return Array("\(HTTPProxyRoute.magic) \(secret) \(address) \(destination.port) \(list)\n".utf8)
    }

    /// The preamble's first word, which the proxy checks.
    public static let magic = "SANDLOCK-HTTP/1"

    /// 32 random bytes, hex.
    static func makeSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in
            let text = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - text.count) + text
        }.joined()
    }
}

extension SocketAddress {
    /// 127.0.0.1 or ::1: what `localhost` resolves to in every sandbox.
    static func isLoopbackName(_ address: [UInt8]) -> Bool {
        address == NetworkRule.parseAddress("127.0.0.1") || address == NetworkRule.parseAddress("::1")
    }
}

extension NetworkAllowlist {
    /// The pinned names that resolved to `address`; `localhost` for loopback, which the
    /// sandbox's /etc/hosts always gives it.
    func names(of address: [UInt8]) -> [String] {
        var found = Set(names.filter { $0.value.contains(address) }.map(\.key))
        if SocketAddress.isLoopbackName(address) { found.insert("localhost") }
        return found.sorted()
    }
}
