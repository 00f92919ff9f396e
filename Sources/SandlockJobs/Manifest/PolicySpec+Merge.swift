import SandlockCore

extension PolicySpec {
    /// `self` on top of `base`, field by field as `PolicyField.merge` says (lists joined base
    /// first, scalars of `self` win, environment variables merged by name). `extends` is not
    /// inherited.
    func merged(over base: PolicySpec) -> PolicySpec {
        var m = base
        m.mark = mark
        m.description = description
        m.extends = []
        for field in Policy.fields where sets(field) {
            field.merge(values, into: &m.values)
            m.written[field.name] = written[field.name]
            if let mine = items[field.name] {
                let existing = base.items[field.name] ?? []
                let known = Set(existing.map(\.value))
                m.items[field.name] = existing + mine.filter { !known.contains($0.value) }
            }
        }
        return m
    }

    /// The engine's policy. Paths must already be absolute (see `Planner`); `env` is the
    /// fully merged environment of the process.
    func policy(env: [(key: String, value: String)]) -> Policy {
        var p = values
        p.env = Dictionary(env.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        return p
    }

    /// The environment the policy sets (`environment.env`), in name order.
    var environment: [(key: String, value: String)] {
        values.env.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// Later lists override earlier ones variable by variable; the order of first appearance stays.
func mergeEnvironment(_ lists: [(key: String, value: String)]...) -> [(key: String, value: String)] {
    var out: [(key: String, value: String)] = []
    var index: [String: Int] = [:]
    for list in lists {
        for (k, v) in list {
            if let i = index[k] { out[i].value = v } else {
                index[k] = out.count
                out.append((k, v))
            }
        }
    }
    return out
}
