/// A value of a policy field that does not fit its notation or range: which field, and
/// what was expected. `description` is `name: message`.
public struct PolicyViolation: Error, Sendable, Hashable, CustomStringConvertible {
    /// sandlock's name of the field (`max_cpu`).
    public let field: String
    public let message: String
    /// The offending item of a list field, when one is to blame.
    public let item: Int?

    public init(field: String, _ message: String, item: Int? = nil) {
        self.field = field
        self.message = message
        self.item = item
    }

    public var description: String { "\(field): \(message)" }
}

extension PolicyField {
    /// Applies one `sandlock run` argument (`nil` for a flag without value): lists gain
    /// the value, scalars take it. Throws what the value should have looked like.
    public func apply(argument value: String?, to policy: inout Policy) throws(PolicyViolation) {
        func fail(_ expected: String) -> PolicyViolation {
            PolicyViolation(field: name, "expected \(expected), found '\(value ?? "")'")
        }
        guard let value else {
            if case .flag(let ref) = grammar { policy[keyPath: ref] = true }
            return
        }
        switch grammar {
        case .flag(let ref):
            policy[keyPath: ref] = true
        case .paths(let ref), .endpoints(let ref), .httpRules(let ref), .syscalls(let ref), .syscallGroups(let ref):
            policy[keyPath: ref].append(value)
        case .syscallSet(let ref):
            policy[keyPath: ref] = (policy[keyPath: ref] ?? []) + [value]
        case .string(let ref):
            policy[keyPath: ref] = value
        case .size(let ref):
            guard let bytes = Units.parseSize(value), bytes > 0 else { throw fail("a size like 512M or 1G") }
            policy[keyPath: ref] = bytes
        case .duration(let ref):
            guard let duration = Units.parseDuration(value), duration > .zero else {
                throw fail("a duration like 30, 30s, 5m or 500ms")
            }
            policy[keyPath: ref] = duration
        case .integer(let ref, let range, let noun):
            guard let number = Int(value), range.contains(number) else { throw fail(PolicyGrammar.expected(noun, range)) }
            policy[keyPath: ref] = number
        case .cpuList(let ref, let range):
            let cores = value.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
            guard !cores.isEmpty, cores.allSatisfy({ $0.map(range.contains) ?? false }) else {
                throw fail("a list of CPUs from \(range.lowerBound) to \(range.upperBound) like 0,2,3")
            }
            policy[keyPath: ref] = cores.compactMap { $0 }
        case .ports(let ref):
            guard let ports = Units.parsePorts(value) else { throw fail("ports like 8080 or 8080,9000-9005") }
            policy[keyPath: ref] += ports
        case .timestamp(let ref):
            guard let seconds = PolicyGrammar.timestamp(value) else { throw fail("an RFC 3339 time like 2000-01-01T00:00:00Z") }
            policy[keyPath: ref] = seconds
        case .seed(let ref):
            guard let seed = UInt64(value) else { throw fail("a non-negative integer") }
            policy[keyPath: ref] = seed
        case .environment(let ref):
            guard let equals = value.firstIndex(of: "="), equals != value.startIndex else { throw fail("KEY=VALUE") }
            policy[keyPath: ref][String(value[..<equals])] = String(value[value.index(after: equals)...])
        case .disposition(let ref):
            guard let disposition = Disposition(rawValue: value) else { throw fail("commit, abort or keep") }
            policy[keyPath: ref] = disposition
        }
    }

    /// The field's value in `policy` as the arguments of its flag that give it back
    /// (`apply(argument:)`'s inverse): `["512M"]`, `["/usr", "/lib"]`, `["0,2"]`; none when
    /// not set, and none for a flag (its presence is the value).
    public func arguments(of policy: Policy) -> [String] {
        switch grammar {
        case .paths(let r), .endpoints(let r), .httpRules(let r), .syscalls(let r), .syscallGroups(let r): return policy[keyPath: r]
        case .syscallSet(let r): return policy[keyPath: r] ?? []
        case .string(let r): return policy[keyPath: r].map { [$0] } ?? []
        case .size(let r): return policy[keyPath: r].map { [$0.sizeText] } ?? []
        case .seed(let r): return policy[keyPath: r].map { ["\($0)"] } ?? []
        case .integer(let r, _, _): return policy[keyPath: r].map { ["\($0)"] } ?? []
        case .timestamp(let r): return policy[keyPath: r].map { ["\($0)"] } ?? []
        case .cpuList(let r, _): return policy[keyPath: r].map { [$0.map(String.init).joined(separator: ",")] } ?? []
        case .ports(let r): return policy[keyPath: r].map(String.init)
        case .duration(let r): return policy[keyPath: r].map { [$0.manifestText] } ?? []
        case .environment(let r): return policy[keyPath: r].sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        case .flag: return []
        case .disposition(let r): return [policy[keyPath: r].rawValue]
        }
    }

    /// Whether `policy` holds `Policy()`'s value of this field.
    public func isDefault(in policy: Policy) -> Bool {
        let initial = Policy.defaults
        func same<T: Equatable>(_ ref: PolicyRef<T>) -> Bool { policy[keyPath: ref] == initial[keyPath: ref] }
        switch grammar {
        case .flag(let r): return same(r)
        case .paths(let r), .endpoints(let r), .httpRules(let r), .syscalls(let r), .syscallGroups(let r): return same(r)
        case .syscallSet(let r): return same(r)
        case .string(let r): return same(r)
        case .size(let r), .seed(let r): return same(r)
        case .duration(let r): return same(r)
        case .integer(let r, _, _): return same(r)
        case .cpuList(let r, _): return same(r)
        case .ports(let r): return same(r)
        case .timestamp(let r): return same(r)
        case .environment(let r): return same(r)
        case .disposition(let r): return same(r)
        }
    }

    /// `extends`: this field of `child` on top of `base`. Lists are joined (the base's
    /// entries first, no duplicates), environments merged by name (the child's value wins),
    /// scalars replaced.
    public func merge(_ child: Policy, into base: inout Policy) {
        func union<T: Equatable>(_ ref: PolicyRef<[T]>) {
            base[keyPath: ref] += child[keyPath: ref].filter { !base[keyPath: ref].contains($0) }
        }
        func union<T: Equatable>(_ ref: PolicyRef<[T]?>) {
            guard let added = child[keyPath: ref] else { return }
            let existing = base[keyPath: ref] ?? []
            base[keyPath: ref] = existing + added.filter { !existing.contains($0) }
        }
        func replace<T>(_ ref: PolicyRef<T>) { base[keyPath: ref] = child[keyPath: ref] }
        switch grammar {
        case .paths(let r), .endpoints(let r), .httpRules(let r), .syscalls(let r), .syscallGroups(let r): union(r)
        case .syscallSet(let r): union(r)
        case .cpuList(let r, _): union(r)
        case .ports(let r): union(r)
        case .environment(let r): base[keyPath: r].merge(child[keyPath: r]) { _, new in new }
        case .flag(let r): replace(r)
        case .string(let r): replace(r)
        case .size(let r), .seed(let r): replace(r)
        case .duration(let r): replace(r)
        case .integer(let r, _, _): replace(r)
        case .timestamp(let r): replace(r)
        case .disposition(let r): replace(r)
        }
    }
}

extension PolicyGrammar {
    /// "a percentage from 1 to 100", "a positive number".
    static func expected(_ noun: String, _ range: ClosedRange<Int>) -> String {
        if range.upperBound == .max {
            return range.lowerBound == 1 ? "a positive \(noun)" : "\(article(noun)) \(noun) of at least \(range.lowerBound)"
        }
        return "\(article(noun)) \(noun) from \(range.lowerBound) to \(range.upperBound)"
    }

    private static func article(_ noun: String) -> String {
        "aeiou".contains(noun.first ?? "x") ? "an" : "a"
    }

    /// RFC 3339 or Unix seconds (`--time-start`, `determinism.time_start`).
    public static func timestamp(_ text: String) -> Int64? { Int64(text) ?? Units.parseTimestamp(text) }

    /// `host:port` or `:port`, port 1…65535; IPv6 hosts in brackets (`[::1]:53`): the shape
    /// a manifest's `network.allow` is checked for (the schema's pattern); `validate()` then
    /// parses each entry as a `NetworkRule`.
    public static func isEndpoint(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":") else { return false }
        let host = text[..<colon]
        guard let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return false }
        return !host.contains(" ") && (!host.contains(":") || (host.hasPrefix("[") && host.hasSuffix("]")))
    }

    /// Syscall and group names: lowercase ASCII letters, digits and `_`.
    public static func isSyscallName(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isLowercase || ("0"..."9").contains($0) || $0 == "_") }
    }
}

extension Policy {
    /// `Policy()`, built once: what "not set" means for every field.
    static let defaults = Policy()
}
