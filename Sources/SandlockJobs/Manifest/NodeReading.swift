import SandlockCore

/// Where a value sits, for the prefix of a message: `stage 'count': map.over: …`.
struct Context {
    var owner: String?
    var path: [String] = []

    func with(_ key: String) -> Context {
        var c = self
        c.path.append(key)
        return c
    }

    func message(_ text: String) -> String {
        var prefix = ""
        if let owner { prefix += owner + ": " }
        if !path.isEmpty { prefix += path.joined(separator: ".") + ": " }
        return prefix + text
    }
}

/// The keys of one mapping, after unknown keys were reported.
struct Fields {
    var pairs: [String: YAMLNode.Pair] = [:]
    var order: [String] = []

    /// The value of `key`; an explicit null (`key:` or `key: ~`) counts as not set.
    subscript(_ key: String) -> YAMLNode? {
        guard let value = pairs[key]?.value, !value.isNull else { return nil }
        return value
    }

    func keyNode(_ key: String) -> YAMLNode? { pairs[key]?.key }
}

/// Typed reads of nodes. Each returns `nil` after recording a diagnostic when the node
/// does not have the expected shape, so decoding goes on and reports every error.
struct NodeReader {
    var diagnostics: [Diagnostic] = []

    mutating func error(_ ctx: Context, _ text: String, at node: YAMLNode) {
        diagnostics.append(.error(ctx.message(text), at: node))
    }

    mutating func mismatch(_ ctx: Context, _ expected: String, _ node: YAMLNode) {
        error(ctx, "expected \(expected), found \(node.summary)", at: node)
    }

    /// The pairs of a mapping node whose keys are all in `vocabulary`.
    mutating func fields(_ node: YAMLNode, _ ctx: Context, _ vocabulary: [String], expected: String = "a mapping", extensionPrefix: String? = nil) -> Fields? {
        guard case .mapping(let pairs) = node.content else {
            mismatch(ctx, expected, node)
            return nil
        }
        var fields = Fields()
        for pair in pairs {
            guard let key = pair.key.scalarText else {
                error(ctx, "keys must be plain strings, found \(pair.key.summary)", at: pair.key)
                continue
            }
            if let extensionPrefix, key.hasPrefix(extensionPrefix) { continue }
            guard vocabulary.contains(key) else {
                var text = "unknown key '\(key)'"
                if let near = closestMatch(to: key, in: vocabulary) { text += " (did you mean '\(near)'?)" }
                error(ctx, text, at: pair.key)
                continue
            }
            fields.pairs[key] = pair
            fields.order.append(key)
        }
        return fields
    }

    /// A mapping with free keys (stage names, policy names), in document order.
    mutating func entries(_ node: YAMLNode, _ ctx: Context, expected: String) -> [YAMLNode.Pair]? {
        guard case .mapping(let pairs) = node.content else {
            mismatch(ctx, expected, node)
            return nil
        }
        return pairs.filter { pair in
            if pair.key.scalarText != nil { return true }
            error(ctx, "keys must be plain strings, found \(pair.key.summary)", at: pair.key)
            return false
        }
    }

    mutating func string(_ node: YAMLNode, _ ctx: Context, allowEmpty: Bool = false) -> String? {
        guard case .scalar(let s) = node.content, !node.isNull else {
            mismatch(ctx, "a string", node)
            return nil
        }
        if !allowEmpty && s.text.isEmpty {
            error(ctx, "expected a non-empty string", at: node)
            return nil
        }
        return s.text
    }

    mutating func located(_ node: YAMLNode, _ ctx: Context) -> Located<String>? {
        string(node, ctx).map { Located($0, at: node) }
    }

    mutating func bool(_ node: YAMLNode, _ ctx: Context) -> Bool? {
        if case .scalar(let s) = node.content, s.isPlain {
            switch s.text {
            case "true", "True", "TRUE": return true
            case "false", "False", "FALSE": return false
            default: break
            }
        }
        mismatch(ctx, "true or false", node)
        return nil
    }

    mutating func int(_ node: YAMLNode, _ ctx: Context, in range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let s) = node.content, let value = Int(s.text) else {
            mismatch(ctx, "an integer", node)
            return nil
        }
        guard range.contains(value) else {
            let bounds = range.upperBound == .max ? "at least \(range.lowerBound)" : "from \(range.lowerBound) to \(range.upperBound)"
            error(ctx, "expected an integer \(bounds), found \(node.summary)", at: node)
            return nil
        }
        return value
    }

    /// A scalar parsed by `parse`; `expected` names the notation in the message.
    mutating func quantity<T>(_ node: YAMLNode, _ ctx: Context, _ expected: String, _ parse: (String) -> T?) -> T? {
        if case .scalar(let s) = node.content, !node.isNull, let value = parse(s.text) { return value }
        mismatch(ctx, expected, node)
        return nil
    }

    mutating func size(_ node: YAMLNode, _ ctx: Context) -> UInt64? {
        quantity(node, ctx, "a size like 512M, 1G, 100K or a number of bytes", Quantities.size)
    }

    mutating func duration(_ node: YAMLNode, _ ctx: Context) -> Duration? {
        quantity(node, ctx, "a duration like 500ms, 30s, 5m, 1h or a number of seconds", Quantities.duration)
    }

    /// The items of a sequence; with `single`, a lone scalar counts as a list of one.
    mutating func list(_ node: YAMLNode, _ ctx: Context, single: Bool = false) -> [YAMLNode]? {
        switch node.content {
        case .sequence(let items): return items
        case .scalar where single: return [node]
        default:
            mismatch(ctx, single ? "a name or a list of names" : "a list", node)
            return nil
        }
    }

    mutating func strings(_ node: YAMLNode, _ ctx: Context, single: Bool = false) -> [Located<String>]? {
        guard let items = list(node, ctx, single: single) else { return nil }
        let values = items.compactMap { located($0, ctx) }
        return values.count == items.count ? values : nil
    }

    mutating func ints(_ node: YAMLNode, _ ctx: Context, in range: ClosedRange<Int>) -> [Int]? {
        guard let items = list(node, ctx) else { return nil }
        let values = items.compactMap { int($0, ctx, in: range) }
        return values.count == items.count ? values : nil
    }

    /// `env:`-style mappings of variable names to scalar values, in document order.
    mutating func environment(_ node: YAMLNode, _ ctx: Context) -> [(key: String, value: String)]? {
        guard let pairs = entries(node, ctx, expected: "a mapping of variable names to values") else { return nil }
        var out: [(key: String, value: String)] = []
        for pair in pairs {
            let name = pair.key.scalarText ?? ""
            guard isVariableName(name) else {
                error(ctx, "'\(name)' is not a valid environment variable name", at: pair.key)
                continue
            }
            guard case .scalar(let s) = pair.value.content else {
                mismatch(ctx.with(name), "a string", pair.value)
                continue
            }
            out.append((name, pair.value.isNull ? "" : s.text))
        }
        return out
    }

    /// A name or list of names of environment variables (`secrets:`).
    mutating func variableNames(_ node: YAMLNode, _ ctx: Context) -> [Located<String>]? {
        guard let names = strings(node, ctx, single: true) else { return nil }
        let valid = names.filter { name in
            if isVariableName(name.value) { return true }
            diagnostics.append(name.error(ctx.message("'\(name.value)' is not a valid environment variable name")))
            return false
        }
        return valid.count == names.count ? valid : nil
    }

    private func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
        else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && $0.properties.isAlphabetic) || ("0"..."9").contains($0) }
    }

    /// A value from a fixed set, with "did you mean" for a near miss.
    mutating func choice(_ node: YAMLNode, _ ctx: Context, _ choices: [String]) -> String? {
        guard case .scalar(let s) = node.content, !node.isNull else {
            mismatch(ctx, "one of \(choices.joined(separator: ", "))", node)
            return nil
        }
        if choices.contains(s.text) { return s.text }
        var text = "expected one of \(choices.joined(separator: ", ")), found \(node.summary)"
        if let near = closestMatch(to: s.text, in: choices) { text += " (did you mean '\(near)'?)" }
        error(ctx, text, at: node)
        return nil
    }
}
