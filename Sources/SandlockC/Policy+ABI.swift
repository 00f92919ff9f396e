import FoundationEssentials
import SandlockCore

/// A policy behind a `sandlock_policy *`.
final class PolicyHandle {
    let policy: Policy
    init(_ policy: Policy) { self.policy = policy }
}

/// A JSON value of any shape, for the value forms and for checking keys.
enum JSONValue: Decodable {
    case null
    case bool(Bool)
    /// A number or a string, as the text a flag would carry (`30`, `0.5`, `256M`).
    case scalar(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let integer = try? container.decode(Int64.self) {
            self = .scalar(String(integer))
        } else if let number = try? container.decode(Double.self) {
            self = .scalar(String(number))
        } else if let text = try? container.decode(String.self) {
            self = .scalar(text)
        } else if let items = try? container.decode([JSONValue].self) {
            self = .array(items)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// A JSON object's members, or why the text is not one.
    static func object(_ json: UnsafePointer<CChar>?) throws(Failure) -> [String: JSONValue] {
        guard let json else { throw Failure(.argument, "policy JSON: NULL") }
        let text = String(cString: json)
        do {
            return try JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8))
        } catch {
            throw Failure(.argument, "policy JSON: not a JSON object: \(error)")
        }
    }
}

extension PolicyField {
    /// Gives one value in sandlock's Python/profile forms to the field, through the same
    /// parser as its `sandlock run` flag: booleans for flags, a list (or one item) for list
    /// fields, `{"K": "V"}` for `env`, a list of numbers for `cpu_cores`, null for "default".
    func apply(value: JSONValue, to policy: inout Policy) throws(PolicyViolation) {
        func wrongShape(_ expected: String) -> PolicyViolation { PolicyViolation(field: name, "expected \(expected)") }
        switch (grammar, value) {
        case (_, .null):
            return
        case (.flag(let ref), .bool(let flag)):
            policy[keyPath: ref] = flag
        case (.flag, _):
            throw wrongShape("True or False")
        case (.environment, .object(let variables)):
            for (key, item) in variables.sorted(by: { $0.key < $1.key }) {
                guard case .scalar(let text) = item else { throw wrongShape("a string value for \(key)") }
                try apply(argument: key + "=" + text, to: &policy)
            }
        case (.environment, _):
            throw wrongShape("a mapping of names to strings")
        case (.cpuList, .array(let items)):
            try apply(argument: try Self.texts(items, wrongShape("a list of CPU numbers")).joined(separator: ","), to: &policy)
        case (_, .array(let items)) where grammar.isList:
            for text in try Self.texts(items, wrongShape("a list of strings or numbers")) {
                try apply(argument: text, to: &policy)
            }
        case (_, .scalar(let text)):
            try apply(argument: text, to: &policy)
        default:
            throw wrongShape(grammar.isList ? "a list" : "a string or a number")
        }
    }

    private static func texts(_ items: [JSONValue], _ failure: PolicyViolation) throws(PolicyViolation) -> [String] {
        try items.map { item throws(PolicyViolation) in
            guard case .scalar(let text) = item else { throw failure }
            return text
        }
    }

    /// The grammar's name in `sandlock_policy_fields`.
    var kind: String {
        switch grammar {
        case .flag: "flag"
        case .paths: "paths"
        case .string: "string"
        case .size: "size"
        case .duration: "duration"
        case .integer: "integer"
        case .cpuList: "cpu_list"
        case .ports: "ports"
        case .endpoints: "endpoints"
        case .httpRules: "http_rules"
        case .timestamp: "timestamp"
        case .seed: "seed"
        case .syscalls: "syscalls"
        case .syscallGroups: "syscall_groups"
        case .syscallSet: "syscall_set"
        case .environment: "environment"
        case .disposition: "disposition"
        }
    }
}

/// The field a key names, or an error naming the key and the closest field.
private func field(named key: String) throws(Failure) -> PolicyField {
    if let field = PolicyField.named(key) { return field }
    let near = closestMatch(to: key, in: Policy.fields.map(\.name))
    throw Failure(.invalidPolicy, "unknown policy field '\(key)'" + (near.map { " (did you mean '\($0)'?)" } ?? ""))
}

/// The table's cross-field rules, as the CLI and the profile parser apply them.
private func checked(_ policy: Policy) throws(Failure) -> Policy {
    if let problem = policy.violations().first { throw Failure(.invalidPolicy, problem.description) }
    return policy
}

private struct FieldDescription: Encodable {
    let name: String
    let kind: String
    let list: Bool
    let doc: String
}

@_cdecl("sandlock_policy_fields")
public func sandlockPolicyFields() -> UnsafeMutablePointer<CChar> {
    let fields = Policy.fields.map { FieldDescription(name: $0.name, kind: $0.kind, list: $0.grammar.isList, doc: $0.doc) }
    let data = (try? JSONEncoder().encode(fields)) ?? Data("[]".utf8)
    return cString(String(decoding: data, as: UTF8.self))
}

@_cdecl("sandlock_policy_from_json")
public func sandlockPolicyFromJSON(_ json: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                                   _ error: ErrorOut) -> Int32 {
    reporting(error) { () throws(Failure) in
        guard let out else { throw Failure(.argument, "sandlock_policy_from_json: NULL policy pointer") }
        for key in try JSONValue.object(json).keys { _ = try field(named: key) }
        let policy: Policy
        do {
            policy = try JSONDecoder().decode(Policy.self, from: Data(String(cString: json!).utf8))
        } catch {
            throw Failure(.invalidPolicy, "policy JSON: \(error)")
        }
        out.pointee = handle(PolicyHandle(try checked(policy)))
    }
}

@_cdecl("sandlock_policy_from_values")
public func sandlockPolicyFromValues(_ json: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                                     _ error: ErrorOut) -> Int32 {
    reporting(error) { () throws(Failure) in
        guard let out else { throw Failure(.argument, "sandlock_policy_from_values: NULL policy pointer") }
        var policy = Policy()
        for (key, value) in try JSONValue.object(json).sorted(by: { $0.key < $1.key }) {
            let field = try field(named: key)
            do throws(PolicyViolation) {
                try field.apply(value: value, to: &policy)
            } catch {
                throw Failure(.invalidPolicy, error.description)
            }
        }
        out.pointee = handle(PolicyHandle(try checked(policy)))
    }
}

@_cdecl("sandlock_policy_to_json")
public func sandlockPolicyToJSON(_ policy: UnsafeRawPointer) -> UnsafeMutablePointer<CChar> {
    let data = (try? JSONEncoder().encode(object(policy, as: PolicyHandle.self).policy)) ?? Data("{}".utf8)
    return cString(String(decoding: data, as: UTF8.self))
}

@_cdecl("sandlock_policy_free")
public func sandlockPolicyFree(_ policy: UnsafeRawPointer?) {
    release(policy, as: PolicyHandle.self)
}
