/// One combination of a `matrix:` fan-out: its keys in the order written (the matrix's,
/// then those `include:` added) and their values.
public struct MatrixCombination: Sendable, Hashable, Codable {
    public var keys: [String]
    public var values: [String]

    public init(_ pairs: [(key: String, value: String)]) {
        keys = pairs.map(\.key)
        values = pairs.map(\.value)
    }

    public subscript(_ key: String) -> String? {
        keys.firstIndex(of: key).map { values[$0] }
    }

    /// `SANDLOCK_ITEM`: the combination as a JSON object, keys in order.
    public var json: String {
        JSONValue.object(zip(keys, values).map { ($0, .string($1)) }).compact
    }

    /// `SANDLOCK_MATRIX_<KEY>` for each key: upper case, `-` as `_`.
    public var environment: [String: String] {
        Dictionary(zip(keys.map(Self.variable(for:)), values), uniquingKeysWith: { _, last in last })
    }

    public static func variable(for key: String) -> String {
        "SANDLOCK_MATRIX_" + String(key.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// Whether every pair of `entry` is in the combination.
    func matches(_ entry: [(key: String, value: String)]) -> Bool {
        entry.allSatisfy { self[$0.key] == $0.value }
    }
}

/// The combinations of a matrix, as GitHub Actions computes them: the cartesian product of
/// the keys' values (the first key varies slowest), less each combination an `exclude:`
/// entry matches (all its pairs equal), then each `include:` entry in turn: its pairs for
/// keys outside the matrix are added to every combination whose matrix keys it matches
/// (overwriting values an earlier entry added, never the matrix's own); an entry that
/// matches none is appended as a combination of its own.
enum MatrixExpansion {
    static func combinations(keys: [(key: String, values: [String])], exclude: [[(key: String, value: String)]],
                             include: [[(key: String, value: String)]], limit: Int) -> [MatrixCombination]? {
        var product: [[(key: String, value: String)]] = [[]]
        for (key, values) in keys {
            guard product.count * values.count <= limit else { return nil }
            product = product.flatMap { prefix in values.map { prefix + [(key, $0)] } }
        }
        if keys.isEmpty { product = [] }
        var combinations = product.map(MatrixCombination.init).filter { c in !exclude.contains { c.matches($0) } }
        let original = Set(keys.map(\.key))
        let matrixCount = combinations.count
        for entry in include {
            let own = entry.filter { original.contains($0.key) }
            let added = entry.filter { !original.contains($0.key) }
            var matched = false
            for i in 0..<matrixCount where combinations[i].matches(own) {
                matched = true
                for (key, value) in added {
                    if let at = combinations[i].keys.firstIndex(of: key) {
                        combinations[i].values[at] = value
                    } else {
                        combinations[i].keys.append(key)
                        combinations[i].values.append(value)
                    }
                }
            }
            if !matched { combinations.append(MatrixCombination(entry)) }
            guard combinations.count <= limit else { return nil }
        }
        return combinations
    }
}
