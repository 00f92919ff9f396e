extension NodeReader {
    /// The most combinations a `matrix:` may have, as for `shards:`.
    static let maxMatrixCombinations = 1_000_000

    /// `map.over.matrix`: keys with lists of scalar values, and optional `exclude:` and
    /// `include:` lists of mappings of keys to scalars, expanded to its combinations.
    mutating func matrix(_ node: YAMLNode, _ ctx: Context) -> [MatrixCombination]? {
        guard let pairs = entries(node, ctx, expected: "a mapping of keys to lists of values (and exclude, include)") else { return nil }
        var keys: [(key: String, values: [String])] = []
        var exclude: [[(key: String, value: String)]] = [], include: [[(key: String, value: String)]] = []
        var excludeKeys: [(String, YAMLNode)] = []
        var names = MatrixNames()
        var ok = true
        for pair in pairs {
            let key = pair.key.scalarText ?? ""
            if key == "exclude" || key == "include" {
                guard let listed = list(pair.value, ctx.with(key)) else { ok = false; continue }
                var entries: [[(key: String, value: String)]] = []
                for item in listed {
                    guard let entry = matrixEntry(item, ctx.with(key), &names) else { ok = false; continue }
                    entries.append(entry.pairs)
                    if key == "exclude" { excludeKeys += entry.keyNodes }
                }
                if key == "exclude" { exclude = entries } else { include = entries }
                continue
            }
            guard names.accept(key, at: pair.key, ctx, &self) else { ok = false; continue }
            guard let items = list(pair.value, ctx.with(key)) else { ok = false; continue }
            let values = items.compactMap { scalar($0, ctx.with(key)) }
            if items.isEmpty { error(ctx.with(key), "the list of values is empty", at: pair.value) }
            guard values.count == items.count, !items.isEmpty else { ok = false; continue }
            keys.append((key, values))
        }
        for (key, node) in excludeKeys where !keys.contains(where: { $0.key == key }) {
            error(ctx.with("exclude"), "'\(key)' is not a key of the matrix", at: node)
            ok = false
        }
        guard ok else { return nil }
        if keys.isEmpty && include.isEmpty {
            error(ctx, "needs at least one key with a list of values, or include", at: node)
            return nil
        }
        guard let combinations = MatrixExpansion.combinations(keys: keys, exclude: exclude, include: include, limit: Self.maxMatrixCombinations) else {
            error(ctx, "more than \(grouped(Self.maxMatrixCombinations)) combinations; split the fan-out", at: node)
            return nil
        }
        if combinations.isEmpty { error(ctx, "every combination is excluded", at: node) }
        return combinations.isEmpty ? nil : combinations
    }

    /// An `exclude:` or `include:` entry: a mapping of keys to scalars.
    private mutating func matrixEntry(_ node: YAMLNode, _ ctx: Context, _ names: inout MatrixNames) -> (pairs: [(key: String, value: String)], keyNodes: [(String, YAMLNode)])? {
        guard let pairs = entries(node, ctx, expected: "a mapping of matrix keys to values") else { return nil }
        var out: [(key: String, value: String)] = [], keyNodes: [(String, YAMLNode)] = []
        for pair in pairs {
            let key = pair.key.scalarText ?? ""
            guard names.accept(key, at: pair.key, ctx, &self), let value = scalar(pair.value, ctx.with(key)) else { return nil }
            out.append((key, value))
            keyNodes.append((key, pair.key))
        }
        if out.isEmpty { error(ctx, "an entry needs at least one key", at: node) }
        return out.isEmpty ? nil : (out, keyNodes)
    }

    /// A scalar value (string, number or boolean as written).
    private mutating func scalar(_ node: YAMLNode, _ ctx: Context) -> String? {
        guard case .scalar(let s) = node.content, !node.isNull else {
            mismatch(ctx, "a scalar value", node)
            return nil
        }
        return s.text
    }
}

/// Matrix keys become `SANDLOCK_MATRIX_<KEY>`: each must make a variable name, and two keys
/// must not make the same one.
struct MatrixNames {
    private var keyOfVariable: [String: String] = [:]

    mutating func accept(_ key: String, at node: YAMLNode, _ ctx: Context, _ reader: inout NodeReader) -> Bool {
        let valid = key.unicodeScalars.first.map { $0 == "_" || ($0.isASCII && $0.properties.isAlphabetic) } == true
            && key.unicodeScalars.allSatisfy { $0 == "_" || $0 == "-" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
        guard valid else {
            reader.error(ctx, "matrix key '\(key)' must start with a letter or '_' and hold only letters, digits, '_' and '-' (it names SANDLOCK_MATRIX_<KEY>)", at: node)
            return false
        }
        let variable = MatrixCombination.variable(for: key)
        if let other = keyOfVariable[variable], other != key {
            reader.error(ctx, "matrix keys '\(other)' and '\(key)' both make \(variable)", at: node)
            return false
        }
        keyOfVariable[variable] = key
        return true
    }
}
