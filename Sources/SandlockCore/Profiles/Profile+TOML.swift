extension Profile {
    /// The policy as a profile: its non-default fields, in table order, then `[env]` (TOML
    /// puts a table after every plain key). Reading it back gives the same policy.
    public static func toml(of policy: Policy) -> String {
        var lines: [String] = []
        var tables: [String] = []
        for field in Policy.fields where !field.isDefault(in: policy) {
            let values = field.arguments(of: policy)
            switch field.grammar {
            case .flag(let ref):
                lines.append("\(field.name) = \(policy[keyPath: ref])")
            case .environment(let ref):
                tables.append("\n[\(field.name)]")
                for (name, value) in policy[keyPath: ref].sorted(by: { $0.key < $1.key }) {
                    tables.append("\(quotedKey(name)) = \(quoted(value))")
                }
            case .cpuList(let ref, _):
                lines.append("\(field.name) = [\((policy[keyPath: ref] ?? []).map(String.init).joined(separator: ", "))]")
            case .ports(let ref):
                lines.append("\(field.name) = [\(policy[keyPath: ref].map(String.init).joined(separator: ", "))]")
            case .integer, .seed, .timestamp:
                lines.append("\(field.name) = \(values.first ?? "0")")
            default:
                if field.grammar.isList {
                    lines.append("\(field.name) = [\(values.map(quoted).joined(separator: ", "))]")
                } else if let value = values.first {
                    lines.append("\(field.name) = \(quoted(value))")
                }
            }
        }
        return (lines + tables).joined(separator: "\n") + "\n"
    }

    /// A TOML basic string (JSON's escapes are TOML's).
    static func quoted(_ text: String) -> String { JSONText.quote(text) }

    /// A bare key when TOML allows one, else a quoted one.
    static func quotedKey(_ key: String) -> String {
        let bare = !key.isEmpty && key.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }
        return bare ? key : quoted(key)
    }
}
