import SandlockCore

/// How a manifest writes each kind of policy value: its JSON Schema fragment and its
/// decoding from YAML. Both switch over `PolicyGrammar`, never over fields.
extension PolicyField {
    /// The schema of the field's value, with its doc line and flags as the description.
    var schema: JSONValue {
        let flagsText = flags.isEmpty ? "" : " (\(flags.joined(separator: "/")))"
        let description = JSONValue.string(String(doc.dropLast(doc.hasSuffix(".") ? 1 : 0)) + flagsText + ".")
        func array(_ items: JSONValue) -> JSONValue { ["type": "array", "items": items, "description": description] }
        func ref(_ name: String) -> JSONValue { .object([("$ref", .string("#/$defs/\(name)")), ("description", description)]) }
        func integer(_ range: ClosedRange<Int>) -> JSONValue {
            var pairs: [(String, JSONValue)] = [("type", "integer"), ("minimum", .int(Int64(range.lowerBound)))]
            if range.upperBound != .max { pairs.append(("maximum", .int(Int64(range.upperBound)))) }
            return .object(pairs)
        }
        let syscallName: JSONValue = ["type": "string", "pattern": "^[a-z0-9_]+$"]
        switch grammar {
        case .flag: return ["type": "boolean", "description": description]
        case .paths: return array(["type": "string", "minLength": 1])
        case .httpRules: return array(["type": "string", "pattern": #"^\S+ \S+$"#])
        case .string: return ["type": "string", "minLength": 1, "description": description]
        case .size: return ref("size")
        case .duration: return ref("duration")
        case .disposition: return ref("disposition")
        case .environment: return ref("env")
        case .integer(_, let range, _):
            guard case .object(let pairs) = integer(range) else { return integer(range) }
            return .object(pairs + [("description", description)])
        case .cpuList(_, let range): return array(integer(range))
        case .ports: return array(integer(1...65535))
        case .endpoints: return array(["type": "string", "pattern": #"^([^\s:]*|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$"#])
        case .syscalls, .syscallGroups, .syscallSet: return array(syscallName)
        case .timestamp:
            return [
                "description": description,
                "anyOf": [
                    ["type": "integer"],
                    ["type": "string", "pattern": #"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"#],
                ],
            ]
        case .seed:
            return [
                "description": description,
                "anyOf": [["type": "integer", "minimum": 0], ["type": "string", "pattern": "^[0-9]+$"]],
            ]
        }
    }
}

extension ManifestDecoder {
    /// Reads `node` as the value of `field` into `spec`; on a mismatch records a diagnostic
    /// and leaves the field unset.
    mutating func decode(_ field: PolicyField, _ node: YAMLNode, _ ctx: Context, into spec: inout PolicySpec) {
        func set<T>(_ ref: PolicyRef<T>, _ value: T?) {
            guard let value else { return }
            spec.values[keyPath: ref] = value
            spec.written[field.name] = Located(field.manifest ?? ManifestKey(nil, field.name), at: node)
        }
        func located(_ ref: PolicyRef<[String]>, _ items: [Located<String>]?) {
            set(ref, items?.map(\.value))
            if let items { spec.items[field.name] = items }
        }
        switch field.grammar {
        case .flag(let r): set(r, reader.bool(node, ctx))
        case .paths(let r), .httpRules(let r): located(r, reader.strings(node, ctx))
        case .string(let r): set(r, reader.string(node, ctx).map(Optional.some))
        case .size(let r): set(r, reader.size(node, ctx).map(Optional.some))
        case .duration(let r): set(r, reader.duration(node, ctx).map(Optional.some))
        case .integer(let r, let range, _): set(r, reader.int(node, ctx, in: range).map(Optional.some))
        case .cpuList(let r, let range): set(r, reader.ints(node, ctx, in: range).map(Optional.some))
        case .ports(let r): set(r, reader.ints(node, ctx, in: 1...65535)?.map { UInt16($0) })
        case .endpoints(let r):
            guard let items = reader.strings(node, ctx) else { return }
            located(r, items.compactMap { e in
                if PolicyGrammar.isEndpoint(e.value) { return e }
                reader.diagnostics.append(e.error(ctx.message("expected 'host:port' or ':port', found '\(e.value)'")))
                return nil
            })
        case .timestamp(let r):
            set(r, reader.quantity(node, ctx, "an RFC 3339 time like 2000-01-01T00:00:00Z or Unix seconds", PolicyGrammar.timestamp).map(Optional.some))
        case .seed(let r):
            set(r, reader.quantity(node, ctx, "a non-negative integer seed") { UInt64($0) }.map(Optional.some))
        case .syscalls(let r), .syscallGroups(let r): located(r, syscallNames(node, ctx))
        case .syscallSet(let r):
            // An empty list means "not set": an empty deny list would drop the default list
            // and an empty allowlist would deny everything but execve.
            guard let names = syscallNames(node, ctx) else { return }
            set(r, .some(names.isEmpty ? nil : names.map(\.value)))
            spec.items[field.name] = names
        case .environment(let r):
            set(r, reader.environment(node, ctx).map { Dictionary($0.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last }) })
        case .disposition(let r):
            set(r, reader.choice(node, ctx, ManifestVocabulary.dispositions).flatMap(Disposition.init(rawValue:)))
        }
    }

    private mutating func syscallNames(_ node: YAMLNode, _ ctx: Context) -> [Located<String>]? {
        guard let names = reader.strings(node, ctx) else { return nil }
        return names.compactMap { name in
            if PolicyGrammar.isSyscallName(name.value) { return name }
            reader.diagnostics.append(name.error(ctx.message("'\(name.value)' is not a syscall or group name (lowercase letters, digits, '_')")))
            return nil
        }
    }
}
