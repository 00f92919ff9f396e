import SandlockCore

extension Plan {
    /// `plan --json`: the plan with each policy's non-default fields (sandlock's snake_case
    /// names), durations as manifest text, items listed once per stage.
    public var json: JSONValue {
        .object([
            ("name", .string(name)),
            ("description", description.map(JSONValue.string) ?? .null),
            ("manifest", .string(manifestPath)),
            ("workdir", .string(workdir)),
            ("order", .array(order.map(JSONValue.string))),
            ("levels", .array(levels.map { .array($0.map(JSONValue.string)) })),
            ("stages", .array(stages.map(\.json))),
        ])
    }

    /// `plan` for people: levels, stages, fan-out sizes and effective policies.
    public var text: String {
        var out = "plan '\(name)': \(stages.count) stage\(stages.count == 1 ? "" : "s") in \(levels.count) level\(levels.count == 1 ? "" : "s")\n"
        out += "manifest \(manifestPath)\nworkdir  \(workdir)\n"
        for (level, names) in levels.enumerated() {
            out += "\nlevel \(level)\(names.count > 1 ? " (\(names.count) stages may run in parallel)" : "")\n"
            for stageName in names {
                guard let s = stage(stageName) else { continue }
                out += s.text(workdir: workdir)
            }
        }
        return out
    }

    /// `graph --format mermaid`.
    public var mermaid: String {
        var out = "flowchart TD\n"
        let ids = Dictionary(stages.enumerated().map { ($1.name, "s\($0)") }, uniquingKeysWith: { a, _ in a })
        for (i, s) in stages.enumerated() {
            let label = s.graphLabel.replacingOccurrences("\"", "#quot;").replacingOccurrences("\n", "<br/>")
            let (open, close) = if case .map = s.work { ("[[", "]]") } else { ("[", "]") }
            out += "    s\(i)\(open)\"\(label)\"\(close)\n"
        }
        for (i, s) in stages.enumerated() {
            for need in s.needs {
                guard let from = ids[need] else { continue }
                switch s.condition {
                case .success: out += "    \(from) --> s\(i)\n"
                case .failure: out += "    \(from) -. on failure .-> s\(i)\n"
                case .always: out += "    \(from) -. always .-> s\(i)\n"
                }
            }
        }
        return out
    }

    /// A dot string literal.
    static func dotQuoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences("\\", "\\\\").replacingOccurrences("\"", "\\\"").replacingOccurrences("\n", "\\n") + "\""
    }

    /// `graph --format dot` (Graphviz).
    public var dot: String {
        let q = Self.dotQuoted
        var out = "digraph \(q(name)) {\n    rankdir=LR;\n    node [shape=box, fontname=\"monospace\"];\n"
        for s in stages {
            let shape = if case .map = s.work { ", shape=box3d" } else { "" }
            out += "    \(q(s.name)) [label=\(q(s.graphLabel))\(shape)];\n"
        }
        for s in stages {
            for need in s.needs {
                let style = switch s.condition {
                case .success: ""
                case .failure: " [style=dashed, label=\"on failure\"]"
                case .always: " [style=dotted, label=\"always\"]"
                }
                out += "    \(q(need)) -> \(q(s.name))\(style);\n"
            }
        }
        return out + "}\n"
    }
}

extension PlannedStage {
    var kindName: String {
        switch work {
        case .command: "command"
        case .pipeline: "pipeline"
        case .map: "map"
        }
    }

    var graphLabel: String {
        switch work {
        case .command: return name
        case .pipeline(let m): return "\(name)\npipeline of \(m.count)"
        case .map(let m): return "\(name)\nmap × \(m.source.countText)\(m.reduce == nil ? "" : " + reduce")"
        }
    }

    var json: JSONValue {
        var fields: [(String, JSONValue)] = [("name", .string(name))]
        if let description { fields.append(("description", .string(description))) }
        fields += [
            ("kind", .string(kindName)),
            ("needs", .array(needs.map(JSONValue.string))),
            ("level", .int(Int64(level))),
            ("if", .string(condition.rawValue)),
            ("timeout", timeout.map { .string($0.manifestText) } ?? .null),
            ("retry", retry.map(\.json) ?? .null),
        ]
        // Like `description`: only when the manifest changed them.
        if onSuccess != .commit { fields.append(("on_success", .string(onSuccess.rawValue))) }
        if onFailure != .abort { fields.append(("on_failure", .string(onFailure.rawValue))) }
        switch work {
        case .command(let p): fields.append(("command", p.json))
        case .pipeline(let members): fields.append(("pipeline", .array(members.map(\.json))))
        case .map(let m):
            fields.append(("map", .object([
                ("over", m.source.json),
                ("max_parallel", m.maxParallel.map { .int(Int64($0)) } ?? .null),
                ("allow_failures", m.allowFailures.map(\.json) ?? .null),
                ("worker", m.worker.json),
                ("reduce", m.reduce?.json ?? .null),
            ])))
        }
        return .object(fields)
    }

    /// The stage for people; stages that may write inside `workdir` say what becomes of
    /// their copy-on-write changes.
    func text(workdir: String) -> String {
        var head = "  \(name) [\(kindName)"
        if case .map(let m) = work {
            head += " over \(m.source.countText) \(m.source.kindText)"
            if let p = m.maxParallel { head += ", max_parallel \(p)" }
            if let a = m.allowFailures { head += ", allow_failures \(a.text)" }
        }
        head += "]"
        if !needs.isEmpty { head += " needs \(needs.joined(separator: ", "))" }
        if condition != .success { head += " if \(condition.rawValue)" }
        if onSuccess != .commit { head += " on_success \(onSuccess.rawValue)" }
        if onFailure != .abort { head += " on_failure \(onFailure.rawValue)" }
        var out = head + "\n"
        if let description { out += "    # \(description)\n" }
        if let timeout { out += "    timeout  \(timeout.manifestText)\n" }
        if let retry { out += "    retry    \(retry.text)\n" }
        if !artifacts.isEmpty {
            let names = artifacts.map { $0.hasPrefix(workdir + "/") ? String($0.dropFirst(workdir.count + 1)) : $0 }
            out += "    keeps    \(names.joined(separator: " ")) (copied to the run directory whatever the outcome)\n"
        }
        if !secrets.isEmpty { out += "    secrets  \(secrets.joined(separator: " ")) (from the environment, masked in logs)\n" }
        if case .map(let m) = work, let root = m.source.itemRoot(workdir: workdir) {
            out += "    shards   each may read its own item inside \(root), besides its policy\n"
        }
        if processes.contains(where: { $0.policy.fsWritable.contains { FileSystem.isInside($0, workdir) } }) {
            let interrupted = onFailure == .commit ? " (keep when interrupted)" : ""
            out += "    changes  copy-on-write: \(onSuccess.rawValue) on success, \(onFailure.rawValue) on failure\(interrupted)\n"
        }
        switch work {
        case .command(let p): out += p.text(role: "run")
        case .pipeline(let members):
            for (i, m) in members.enumerated() { out += m.text(role: i == 0 ? "run" : "| run") }
        case .map(let m):
            out += m.worker.text(role: "run")
            if let r = m.reduce { out += r.text(role: "reduce") }
        }
        return out
    }
}

extension PlannedProcess {
    var json: JSONValue {
        .object([("argv", .array(argv.map(JSONValue.string))), ("policy_source", .string(policySource)), ("policy", policy.json)])
    }

    func text(role: String) -> String {
        var command = Shell.script(of: argv) ?? argv.map(shellQuoted).joined(separator: " ")
        // A multi-line script (`run: |`) stays readable under its label.
        if command.hasSuffix("\n") { command.removeLast() }
        command = command.replacingOccurrences("\n", "\n" + String(repeating: " ", count: 13))
        return "    \(role.padding(8)) \(command)\n    \("policy".padding(8)) \(policySource): \(policy.summary)\n"
    }
}

extension ItemSource {
    var countText: String { count.map(String.init) ?? "?" }

    var kindText: String {
        switch self {
        case .items: return "items"
        case .shards: return "shards"
        case .glob(let pattern, let m): return "matches of \(pattern)" + (m == nil ? " (decided at run time)" : "")
        case .lines(let file, let l): return "lines of \(file)" + (l == nil ? " (decided at run time)" : "")
        case .matrix(let combinations): return "matrix combinations of " + Self.keys(of: combinations).joined(separator: ", ")
        }
    }

    /// Every key of a matrix's combinations, in the order they first appear.
    static func keys(of combinations: [MatrixCombination]) -> [String] {
        var seen = Set<String>()
        return combinations.flatMap(\.keys).filter { seen.insert($0).inserted }
    }

    var json: JSONValue {
        switch self {
        case .items(let items):
            return .object([("kind", .string("items")), ("count", .int(Int64(items.count))), ("items", .array(items.map(JSONValue.string)))])
        case .shards(let n):
            return .object([("kind", .string("shards")), ("count", .int(Int64(n)))])
        case .glob(let pattern, let matches):
            return .object([
                ("kind", .string("glob")), ("pattern", .string(pattern)),
                ("count", matches.map { .int(Int64($0.count)) } ?? .string("decided at run time")),
                ("items", matches.map { .array($0.map(JSONValue.string)) } ?? .null),
            ])
        case .lines(let file, let lines):
            return .object([
                ("kind", .string("lines")), ("file", .string(file)),
                ("count", lines.map { .int(Int64($0.count)) } ?? .string("decided at run time")),
                ("items", lines.map { .array($0.map(JSONValue.string)) } ?? .null),
            ])
        case .matrix(let combinations):
            return .object([
                ("kind", .string("matrix")), ("count", .int(Int64(combinations.count))),
                ("items", .array(combinations.map { c in .object(zip(c.keys, c.values).map { ($0, .string($1)) }) })),
            ])
        }
    }
}

extension FailureAllowance {
    var text: String {
        switch self {
        case .count(let n): "\(n)"
        case .percent(let p): "\(JSONValue.double(p).rendered().dropLast())%"
        }
    }

    var json: JSONValue {
        switch self {
        case .count(let n): .int(Int64(n))
        case .percent: .string(text)
        }
    }
}

extension RetrySpec {
    var json: JSONValue {
        .object([
            ("limit", .int(Int64(limit))),
            ("on", .array(on.map { .string($0.rawValue) })),
            ("backoff", .object([
                ("delay", .string(backoff.delay.manifestText)),
                ("factor", .double(backoff.factor)),
                ("max", backoff.max.map { .string($0.manifestText) } ?? .null),
            ])),
        ])
    }

    var text: String {
        var t = "\(limit) on \(on.map(\.rawValue).joined(separator: ", "))"
        if backoff.delay > .zero {
            t += ", backoff \(backoff.delay.manifestText)"
            if backoff.factor != 1 { t += " ×\(JSONValue.double(backoff.factor).rendered().dropLast())" }
            if let max = backoff.max { t += " up to \(max.manifestText)" }
        }
        return t
    }
}

extension Policy {
    /// The fields that differ from `Policy()` (and those `shownWhenDefault`), in sandlock's
    /// snake_case names, in `Policy.fields` order.
    var json: JSONValue {
        .object(Self.fields.compactMap { field in
            field.isDefault(in: self) && !field.shownWhenDefault ? nil : (field.name, field.json(of: self))
        })
    }

    /// One line for `plan`: `read /usr /lib; write /w/out; memory 256M; …`, from the fields'
    /// `summary`.
    var summary: String {
        var parts: [String] = []
        for field in Self.fields {
            guard let summary = field.summary else { continue }
            let words = field.words(of: self)
            let part: String?
            if let text = summary.text {
                part = field.isDefault(in: self) ? nil : text
            } else if words.isEmpty {
                part = field.grammar.isList ? summary.whenEmpty : nil
            } else {
                part = ([summary.label ?? field.name] + words).joined(separator: " ") + summary.suffix
            }
            if let part, !parts.contains(part) { parts.append(part) }
        }
        return parts.joined(separator: "; ")
    }
}

extension PolicyField {
    /// The field's value in `policy` as JSON: lists as arrays, sizes and counts as numbers,
    /// durations as manifest text (`30s`).
    func json(of policy: Policy) -> JSONValue {
        func strings(_ v: [String]) -> JSONValue { .array(v.map(JSONValue.string)) }
        func ints<T: BinaryInteger>(_ v: [T]) -> JSONValue { .array(v.map { .int(Int64($0)) }) }
        func int<T: BinaryInteger>(_ v: T?) -> JSONValue { v.map { Int64(exactly: $0).map(JSONValue.int) ?? .string("\($0)") } ?? .null }
        switch grammar {
        case .flag(let r): return .bool(policy[keyPath: r])
        case .paths(let r), .endpoints(let r), .httpRules(let r), .syscalls(let r), .syscallGroups(let r): return strings(policy[keyPath: r])
        case .syscallSet(let r): return policy[keyPath: r].map(strings) ?? .null
        case .string(let r): return policy[keyPath: r].map(JSONValue.string) ?? .null
        case .size(let r), .seed(let r): return int(policy[keyPath: r])
        case .integer(let r, _, _): return int(policy[keyPath: r])
        case .timestamp(let r): return int(policy[keyPath: r])
        case .cpuList(let r, _): return policy[keyPath: r].map(ints) ?? .null
        case .ports(let r): return ints(policy[keyPath: r])
        case .duration(let r): return policy[keyPath: r].map { .string($0.manifestText) } ?? .null
        case .environment(let r):
            return .object(policy[keyPath: r].sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
        case .disposition(let r): return .string(policy[keyPath: r].rawValue)
        }
    }

    /// The field's value in `policy` as words for `plan` (`256M`; `/usr /lib`); none when
    /// not set.
    func words(of policy: Policy) -> [String] {
        switch grammar {
        case .flag(let r): return policy[keyPath: r] ? ["on"] : []
        case .cpuList(let r, _): return policy[keyPath: r]?.map(String.init) ?? []
        default: return arguments(of: policy)
        }
    }
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }

    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

/// `word`, `'two words'`, or `$'line\n'` when the text holds control characters.
func shellQuoted(_ s: String) -> String {
    let safe = !s.isEmpty && s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_./=:,+@%".unicodeScalars.contains($0)) }
    if safe { return s }
    guard s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
        return "'" + s.replacingOccurrences("'", "'\\''") + "'"
    }
    return "$'" + s.escaping { u in
        switch u {
        case "\n": "\\n"
        case "\t": "\\t"
        case "\\": "\\\\"
        case "'": "\\'"
        case _ where u.value < 0x20 || u.value == 0x7F: "\\x" + u.hex(digits: 2)
        default: nil
        }
    } + "'"
}
