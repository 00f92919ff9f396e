#if canImport(Glibc)
import Glibc
#endif
import CSandlockTLS
import SandlockCore
import Synchronization

/// What the supervisor told the proxy on its standard input: the secret of the preambles,
/// the rules, and the CA (loaded, with the upstream trust store, before confinement).
final class ProxyConfiguration: Sendable {
    let secret: String
    let rules: HTTPAccessList
    nonisolated(unsafe) let authority: OpaquePointer?
    let denials = Denials()

    /// Reads `secret …`, `allow …`, `deny …`, `ca …`, `key …` lines up to `end`.
    init(lines: [String]) throws(ProxyError) {
        var values: [String: [String]] = [:]
        for line in lines {
            guard let space = line.firstIndex(of: " ") else { throw ProxyError("bad configuration line '\(line)'") }
            values[String(line[..<space]), default: []].append(String(line[line.index(after: space)...]))
        }
        guard let secret = values["secret"]?.first else { throw ProxyError("no secret in the configuration") }
        self.secret = secret
        do throws(SandboxError) {
            rules = try HTTPAccessList(allow: values["allow"] ?? [], deny: values["deny"] ?? [])
        } catch {
            throw ProxyError(error.description)
        }
        if let ca = values["ca"]?.first, let key = values["key"]?.first {
            var error = [CChar](repeating: 0, count: 512)
            guard let loaded = csl_tls_authority_load(ca, key, &error, error.count) else {
                throw ProxyError("\(text(error)) (CA \(ca), key \(key))")
            }
            authority = loaded
        } else {
            authority = nil
        }
    }
}

/// A NUL-terminated message the TLS shim wrote.
func text(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

struct ProxyError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Requests refused, by what and why, with counts: reported when the proxy ends.
final class Denials: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func record(_ what: String) {
        counts.withLock { $0[what, default: 0] += 1 }
    }

    /// `denied COUNT WHAT` lines.
    var report: String {
        counts.withLock { $0.sorted { $0.key < $1.key }.map { "denied \($0.value) \($0.key)\n" }.joined() }
    }
}
