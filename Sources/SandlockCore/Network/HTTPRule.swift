/// One `http_allow` / `http_deny` entry: `METHOD host[:port]/path`. `*` matches any method,
/// any host, or any run of characters in the host or the path (so a trailing `*` makes the
/// path a prefix); a rule without a path means `/*`. Hosts compare case-insensitively and
/// without a trailing dot; a rule with a port matches only that destination port.
public struct HTTPRule: Sendable, Hashable, CustomStringConvertible {
    /// Upper-cased; nil matches any method.
    public let method: String?
    /// Lower-cased pattern without a trailing dot (`*`, `api.example.com`, `*.example.com`).
    public let host: String
    public let port: UInt16?
    /// Starts with `/`; may hold `*`.
    public let path: String
    /// The rule as written, for 403 bodies and the result.
    public let description: String

    public init(parsing spec: String) throws(SandboxError) {
        func invalid(_ why: String) -> SandboxError {
            .invalidPolicy("'\(spec)' \(why); expected 'METHOD host[:port]/path' like 'GET api.example.com/v1/*' or '* */admin/*'")
        }
        let words = spec.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count == 2 else { throw invalid("needs a method and a host/path separated by one space") }
        let method = String(words[0])
        guard method == "*" || method.utf8.allSatisfy(HTTPSyntax.isTokenByte) else { throw invalid("has a bad method '\(method)'") }
        let target = words[1]
        let slash = target.firstIndex(of: "/") ?? target.endIndex
        var authority = String(target[..<slash]).lowercased()
        let path = slash == target.endIndex ? "/*" : String(target[slash...])
        var port: UInt16?
        if let colon = authority.lastIndex(of: ":") {
            guard let number = UInt16(authority[authority.index(after: colon)...]), number > 0 else {
                throw invalid("has a bad port")
            }
            port = number
            authority = String(authority[..<colon])
        }
        if authority.hasSuffix(".") { authority.removeLast() }
        guard !authority.isEmpty, authority.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "*" }) else {
            throw invalid("names no valid host")
        }
        guard path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { throw invalid("has a path with spaces or control characters") }
        self.method = method == "*" ? nil : method.uppercased()
        self.host = authority
        self.port = port
        self.path = path
        self.description = spec
    }

    /// A concrete host name (no `*`), which `net_allow` pins; nil for a wildcard host.
    public var concreteHost: String? { host.contains("*") ? nil : host }

    /// Does the rule match a request? `host` lower-cased without a trailing dot, `path`
    /// normalized (`HTTPPath.normalized`), without the query.
    public func matches(method: String, host: String, port: UInt16, path: String) -> Bool {
        if let required = self.method, required != method.uppercased() { return false }
        if let required = self.port, required != port { return false }
        return HTTPRule.glob(self.host, host) && HTTPRule.glob(self.path, path)
    }

    /// `*` matches any run of bytes; everything else itself.
    static func glob(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.utf8), t = Array(text.utf8)
        var (pi, ti) = (0, 0)
        var star: Int?, resume = 0
        while ti < t.count {
            if pi < p.count, p[pi] == UInt8(ascii: "*") {
                star = pi
                resume = ti
                pi += 1
            } else if pi < p.count, p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if let star {
                pi = star + 1
                resume += 1
                ti = resume
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}

extension SandboxError {
    /// The message of a rule's `invalidPolicy`, for a violation that names its field.
    var ruleProblem: String {
        if case .invalidPolicy(let message) = self { return message }
        return description
    }
}

/// The HTTP ACL: deny rules first; then, if any allow rule exists, one must match; with
/// only deny rules, everything else passes.
public struct HTTPAccessList: Sendable {
    public let allow: [HTTPRule]
    public let deny: [HTTPRule]

    public init(allow: [String], deny: [String]) throws(SandboxError) {
        var parsed: ([HTTPRule], [HTTPRule]) = ([], [])
        for spec in allow { parsed.0.append(try HTTPRule(parsing: spec)) }
        for spec in deny { parsed.1.append(try HTTPRule(parsing: spec)) }
        (self.allow, self.deny) = parsed
    }

    public enum Verdict: Sendable, Equatable {
        case allowed
        /// The rule that denied it, or nil when no allow rule matched.
        case denied(by: String?)
    }

    public func verdict(method: String, host: String, port: UInt16, path: String) -> Verdict {
        if let rule = deny.first(where: { $0.matches(method: method, host: host, port: port, path: path) }) {
            return .denied(by: "http_deny '\(rule)'")
        }
        if allow.isEmpty || allow.contains(where: { $0.matches(method: method, host: host, port: port, path: path) }) {
            return .allowed
        }
        return .denied(by: nil)
    }
}

/// Request-target paths as the ACL sees them (RFC 3986 §6.2.2): percent-encoded unreserved
/// characters decoded, other escapes upper-cased, `.` and `..` segments removed, repeated
/// `/` collapsed. The proxy forwards this form, so the server gets what was judged.
public enum HTTPPath {
    /// nil for a path that does not start with `/`, has a bad escape, or bytes outside
    /// visible ASCII.
    public static func normalized(_ raw: String) -> String? {
        let bytes = Array(raw.utf8)
        guard bytes.first == UInt8(ascii: "/") else { return nil }
        var decoded: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte > 0x20, byte < 0x7f else { return nil }
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2]) else { return nil }
                let value = high << 4 | low
                if isUnreserved(value) {
                    decoded.append(value)
                } else {
                    decoded += [UInt8(ascii: "%"), hexDigit(high), hexDigit(low)]
                }
                index += 3
            } else {
                decoded.append(byte)
                index += 1
            }
        }
        var segments: [ArraySlice<UInt8>] = []
        let parts = decoded.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
        for part in parts {
            if part.elementsEqual([UInt8(ascii: ".")]) { continue }
            if part.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                _ = segments.popLast()
                continue
            }
            segments.append(part)
        }
        var path = "/" + segments.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
        // A trailing slash (or a trailing dot segment) names a directory: kept.
        if segments.count > 0, decoded.last == UInt8(ascii: "/") || parts.last.map({ $0.allSatisfy { $0 == UInt8(ascii: ".") } }) == true {
            path += "/"
        }
        return path
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
    }

    public static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }

    static func hexDigit(_ value: UInt8) -> UInt8 { Array("0123456789ABCDEF".utf8)[Int(value)] }
}

/// Bytes of HTTP's grammar (RFC 9110 §5.6.2).
public enum HTTPSyntax {
    /// tchar: the bytes of methods and header names.
    public static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}
