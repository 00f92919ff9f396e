/// JSON with sandlock's snake_case names (`Policy.fields`): what `sandlock inspect` prints
/// and the sandbox registry stores. Unset optionals are left out; a missing key decodes as
/// the field's default.
extension Policy: Codable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for field in Self.fields {
            let key = Key(field.name)
            func put<T: Encodable>(_ ref: PolicyRef<T>) throws { try container.encode(self[keyPath: ref], forKey: key) }
            func put<T: Encodable>(_ ref: PolicyRef<T?>) throws { try container.encodeIfPresent(self[keyPath: ref], forKey: key) }
            switch field.grammar {
            case .flag(let r): try put(r)
            case .paths(let r), .endpoints(let r), .httpRules(let r), .syscalls(let r), .syscallGroups(let r): try put(r)
            case .syscallSet(let r): try put(r)
            case .string(let r): try put(r)
            case .size(let r), .seed(let r): try put(r)
            case .duration(let r): try put(r)
            case .integer(let r, _, _): try put(r)
            case .cpuList(let r, _): try put(r)
            case .ports(let r): try put(r)
            case .timestamp(let r): try put(r)
            case .environment(let r): try put(r)
            case .disposition(let r): try put(r)
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let container = try decoder.container(keyedBy: Key.self)
        for field in Self.fields {
            let key = Key(field.name)
            func get<T: Decodable>(_ ref: PolicyRef<T>) throws {
                if let value = try container.decodeIfPresent(T.self, forKey: key) { self[keyPath: ref] = value }
            }
            func get<T: Decodable>(_ ref: PolicyRef<T?>) throws {
                self[keyPath: ref] = try container.decodeIfPresent(T.self, forKey: key)
            }
            switch field.grammar {
            case .flag(let r): try get(r)
            case .paths(let r), .endpoints(let r), .httpRules(let r), .syscalls(let r), .syscallGroups(let r): try get(r)
            case .syscallSet(let r): try get(r)
            case .string(let r): try get(r)
            case .size(let r), .seed(let r): try get(r)
            case .duration(let r): try get(r)
            case .integer(let r, _, _): try get(r)
            case .cpuList(let r, _): try get(r)
            case .ports(let r): try get(r)
            case .timestamp(let r): try get(r)
            case .environment(let r): try get(r)
            case .disposition(let r): try get(r)
            }
        }
    }
}
