import SandlockCore
import TOMLKit

/// TOML → `Policy`, through the policy table: each key names a field, each value is given
/// to the field as `sandlock run` would give its flag (`apply(argument:)`), so a profile
/// accepts exactly what the command line does and nothing else.
struct ProfileParser {
    let path: String
    let text: String

    func policy() throws(ProfileError) -> Policy {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ProfileError(path: path, line: error.source.begin.line, column: error.source.begin.column,
                               message: "not valid TOML: \(error.description)")
        } catch {
            throw ProfileError(path: path, message: "not valid TOML: \(error)")
        }
        var policy = Policy()
        for key in table.keys {
            guard let field = PolicyField.named(key) else {
                let near = closestMatch(to: key, in: Policy.fields.map(\.name))
                throw failure(at: key, "unknown key '\(key)'" + (near.map { " (did you mean '\($0)'?)" } ?? ""))
            }
            guard let value = table[key] else { continue }
            try apply(value, to: field, key: key, policy: &policy)
        }
        if let problem = policy.violations().first { throw failure(at: problem.field, problem.description) }
        return policy
    }

    private func apply(_ value: any TOMLValueConvertible, to field: PolicyField, key: String, policy: inout Policy) throws(ProfileError) {
        func give(_ argument: String) throws(ProfileError) {
            do throws(PolicyViolation) { try field.apply(argument: argument, to: &policy) } catch {
                throw failure(at: key, error.description)
            }
        }
        func wrongType(_ expected: String) -> ProfileError {
            failure(at: key, "\(key): expected \(expected), found a TOML \(value.type)")
        }
        switch field.grammar {
        case .flag(let ref):
            guard let flag = value.bool else { throw wrongType("true or false") }
            policy[keyPath: ref] = flag
        case .environment:
            guard let variables = value.table else { throw wrongType("a table ([\(key)] with NAME = \"value\" lines)") }
            for name in variables.keys {
                guard let text = variables[name]?.string else {
                    throw failure(at: name, "\(key).\(name): expected a string")
                }
                try give(name + "=" + text)
            }
        case .cpuList:
            // `cpu_cores = [0, 2]`, as a list of numbers; the flag spells it "0,2".
            guard let cores = value.array?.map({ $0.int }), cores.allSatisfy({ $0 != nil }) else {
                throw wrongType("a list of CPU numbers like [0, 2]")
            }
            try give(cores.map { String($0!) }.joined(separator: ","))
        default:
            if field.grammar.isList {
                guard let items = value.array else { throw wrongType("a list like [\"…\"]") }
                for item in items {
                    guard let scalar = Self.scalarText(item) else { throw wrongType("a list of strings or numbers") }
                    try give(scalar)
                }
            } else {
                guard let scalar = Self.scalarText(value) else { throw wrongType("a string or a number") }
                try give(scalar)
            }
        }
    }

    /// A string or an integer as the text a flag would carry (`512M`, `50`).
    private static func scalarText(_ value: any TOMLValueConvertible) -> String? {
        value.string ?? value.int.map(String.init)
    }

    /// An error placed at the line where `key` is set (TOMLKit keeps no positions of values,
    /// so the key is found in the text: `key =` at the start of a line).
    private func failure(at key: String, _ message: String) -> ProfileError {
        var line = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            line += 1
            let trimmed = raw.drop { $0 == " " || $0 == "\t" }
            for spelling in [key, "\"\(key)\"", "'\(key)'"] where trimmed.hasPrefix(spelling) {
                let rest = trimmed.dropFirst(spelling.count).drop { $0 == " " || $0 == "\t" }
                if rest.hasPrefix("=") || rest.hasPrefix(".") {
                    return ProfileError(path: path, line: line, column: raw.count - trimmed.count + 1, message: message)
                }
            }
        }
        return ProfileError(path: path, message: message)
    }
}
