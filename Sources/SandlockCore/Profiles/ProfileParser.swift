/// A profile's TOML → `Policy`, through the policy table: each key names a field, each value
/// is given to the field as `sandlock run` gives its flag (`apply(argument:)`), so a profile
/// accepts exactly what the command line does and nothing else.
struct ProfileParser {
    let path: String
    let text: String

    func policy() throws(ProfileError) -> Policy {
        let entries: [TOMLReader.Entry]
        do {
            entries = try TOMLReader.read(text)
        } catch {
            throw failure(at: error.position, "not valid TOML: \(error.message)")
        }
        var policy = Policy()
        for entry in entries {
            guard let field = PolicyField.named(entry.key) else {
                let near = closestMatch(to: entry.key, in: Policy.fields.map(\.name))
                throw failure(at: entry.keyPosition, "unknown key '\(entry.key)'" + (near.map { " (did you mean '\($0)'?)" } ?? ""))
            }
            try apply(entry, to: field, policy: &policy)
        }
        if let problem = policy.violations().first {
            let place = entries.first { $0.key == problem.field }?.keyPosition
            throw failure(at: place, problem.description)
        }
        return policy
    }

    private func apply(_ entry: TOMLReader.Entry, to field: PolicyField, policy: inout Policy) throws(ProfileError) {
        let key = entry.key, value = entry.value
        func give(_ argument: String, at position: TOMLReader.Position) throws(ProfileError) {
            do throws(PolicyViolation) { try field.apply(argument: argument, to: &policy) } catch {
                throw failure(at: position, error.description)
            }
        }
        func wrongType(_ expected: String, _ found: TOMLReader.Located) -> ProfileError {
            failure(at: found.position, "\(key): expected \(expected), found a TOML \(found.value.typeName)")
        }
        switch field.grammar {
        case .flag(let ref):
            guard case .bool(let flag) = value.value else { throw wrongType("true or false", value) }
            policy[keyPath: ref] = flag
        case .environment:
            guard case .table(let variables) = value.value else { throw wrongType("a table ([\(key)] with NAME = \"value\" lines)", value) }
            for variable in variables {
                guard case .string(let text) = variable.value.value else {
                    throw failure(at: variable.value.position, "\(key).\(variable.key): expected a string, found a TOML \(variable.value.value.typeName)")
                }
                try give(variable.key + "=" + text, at: variable.keyPosition)
            }
        case .cpuList:
            // `cpu_cores = [0, 2]`, a list of numbers; the flag spells it "0,2".
            guard case .array(let items) = value.value else { throw wrongType("a list of CPU numbers like [0, 2]", value) }
            var cores: [String] = []
            for item in items {
                guard case .integer(let core) = item.value else { throw wrongType("a CPU number", item) }
                cores.append(String(core))
            }
            try give(cores.joined(separator: ","), at: value.position)
        default:
            if field.grammar.isList {
                guard case .array(let items) = value.value else { throw wrongType("a list like [\"…\"]", value) }
                for item in items {
                    guard let scalar = Self.scalarText(item.value) else { throw wrongType("a string or a number", item) }
                    try give(scalar, at: item.position)
                }
            } else {
                guard let scalar = Self.scalarText(value.value) else { throw wrongType("a string or a number", value) }
                try give(scalar, at: value.position)
            }
        }
    }

    /// A string or an integer as the text a flag would carry (`512M`, `50`).
    private static func scalarText(_ value: TOMLReader.Value) -> String? {
        switch value {
        case .string(let text): text
        case .integer(let number): String(number)
        default: nil
        }
    }

    private func failure(at position: TOMLReader.Position?, _ message: String) -> ProfileError {
        ProfileError(path: path, line: position?.line, column: position?.column, message: message)
    }
}
