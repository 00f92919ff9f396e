import SandlockCore

#if canImport(Glibc)
import Glibc
#endif

/// `params:` and the `${…}` references of a manifest, resolved on the YAML tree before it is
/// decoded, so every key sees plain values and an unknown name is reported at its line and
/// column: `${params.NAME}` (its default, or `--set NAME=VALUE`), `${env.NAME}` (the
/// environment of `sandlock-jobs`), `${workdir}`, `${stage}` (inside a stage) and `${item}`
/// (in a map stage's `run` string only, where it becomes `"$SANDLOCK_ITEM"`: the shard's item,
/// quoted, never spliced into the script). Any other `${…}` is the shell's and stays. Values
/// inside argv lists (`run: [..]`) are left as written.
public struct Interpolation: Sendable {
    /// `--set` values, by parameter name.
    public var overrides: [String: String]
    /// What `${env.NAME}` reads.
    public var environment: @Sendable (String) -> String?

    public init(overrides: [String: String] = [:], environment: @escaping @Sendable (String) -> String? = Interpolation.processEnvironment) {
        self.overrides = overrides
        self.environment = environment
    }

    public static let processEnvironment: @Sendable (String) -> String? = { name in getenv(name).map { String(cString: $0) } }

    /// The tree with every reference replaced; problems are appended to `diagnostics`.
    func apply(to root: YAMLNode, manifestPath: String, currentDirectory: String, diagnostics: inout [Diagnostic]) -> YAMLNode {
        guard case .mapping(let pairs) = root.content else { return root }
        var context = Context(environment: environment)
        if let params = pairs.first(where: { $0.key.scalarText == "params" })?.value {
            context.params = Self.parameters(params, &diagnostics)
        }
        for (name, value) in overrides.sorted(by: { $0.key < $1.key }) {
            guard context.params[name] != nil else {
                let known = context.params.keys.sorted()
                var text = "--set \(name): the manifest has no parameter '\(name)'"
                if let near = closestMatch(to: name, in: known) { text += " (did you mean '\(near)'?)" }
                diagnostics.append(Diagnostic(.error, text + (known.isEmpty ? "; declare it under params:" : ""), at: nil))
                continue
            }
            context.params[name] = value
        }
        let manifestDirectory = FileSystem.directory(of: FileSystem.absolute(manifestPath, base: currentDirectory))
        context.workdir = manifestDirectory
        var out: [YAMLNode.Pair] = []
        // `workdir:` first: `${workdir}` everywhere else is where it points.
        if let i = pairs.firstIndex(where: { $0.key.scalarText == "workdir" }) {
            let resolved = context.resolve(pairs[i].value, scope: .workdir, &diagnostics)
            context.workdir = resolved.scalarText.map { FileSystem.absolute($0, base: manifestDirectory) } ?? manifestDirectory
        }
        for pair in pairs {
            switch pair.key.scalarText {
            case "params": out.append(pair)
            case "stages":
                var stages = pair
                if case .mapping(let entries) = pair.value.content {
                    stages.value.content = .mapping(entries.map { entry in
                        var e = entry
                        let isMap = if case .mapping(let keys) = entry.value.content { keys.contains { $0.key.scalarText == "map" } } else { false }
                        e.value = context.resolve(entry.value, scope: .stage(entry.key.scalarText ?? "", isMap: isMap), &diagnostics)
                        return e
                    })
                }
                out.append(stages)
            default:
                var p = pair
                p.value = context.resolve(pair.value, scope: .outside, &diagnostics)
                out.append(p)
            }
        }
        var result = root
        result.content = .mapping(out)
        return result
    }

    /// `params:`: names to scalar defaults.
    private static func parameters(_ node: YAMLNode, _ diagnostics: inout [Diagnostic]) -> [String: String] {
        guard case .mapping(let pairs) = node.content else {
            diagnostics.append(.error("params: expected a mapping of names to default values, found \(node.summary)", at: node))
            return [:]
        }
        var params: [String: String] = [:]
        for pair in pairs {
            let name = pair.key.scalarText ?? ""
            let valid = name.first.map { $0 == "_" || ($0.isASCII && $0.isLetter) } == true
                && name.allSatisfy { $0 == "_" || $0 == "-" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
            guard valid else {
                diagnostics.append(.error("params: '\(name)' is not a parameter name (letters, digits, '_' and '-')", at: pair.key))
                continue
            }
            guard case .scalar(let s) = pair.value.content else {
                diagnostics.append(.error("params.\(name): expected a scalar default, found \(pair.value.summary)", at: pair.value))
                continue
            }
            params[name] = pair.value.isNull ? "" : s.text
        }
        return params
    }

    private enum Scope {
        case outside, workdir
        case stage(String, isMap: Bool)
    }

    private struct Context {
        var params: [String: String] = [:]
        var workdir = "/"
        let environment: @Sendable (String) -> String?

        init(environment: @escaping @Sendable (String) -> String?) { self.environment = environment }

        /// `node` with its scalars resolved; `key` is the key the node is the value of.
        func resolve(_ node: YAMLNode, scope: Scope, key: String? = nil, depth: Int = 0, _ diagnostics: inout [Diagnostic]) -> YAMLNode {
            var out = node
            switch node.content {
            case .scalar(var s):
                guard s.text.contains("${") else { return node }
                let isWorkerRun = if case .stage(_, true) = scope { key == "run" && depth == 1 } else { false }
                s.text = substitute(s.text, in: node, scope: scope, workerRun: isWorkerRun, &diagnostics)
                out.content = .scalar(s)
            case .sequence(let items):
                // An argv list is passed as written.
                if key == "run" { return node }
                out.content = .sequence(items.map { resolve($0, scope: scope, key: nil, depth: depth + 1, &diagnostics) })
            case .mapping(let pairs):
                out.content = .mapping(pairs.map { pair in
                    var p = pair
                    p.value = resolve(pair.value, scope: scope, key: pair.key.scalarText, depth: depth + 1, &diagnostics)
                    return p
                })
            }
            return out
        }

        private func substitute(_ text: String, in node: YAMLNode, scope: Scope, workerRun: Bool, _ diagnostics: inout [Diagnostic]) -> String {
            var out = ""
            var rest = text[...]
            while let open = rest.firstRange(of: "${") {
                out += rest[..<open.lowerBound]
                guard let close = rest[open.upperBound...].firstIndex(of: "}") else { break }
                let name = String(rest[open.upperBound..<close])
                let reference = "${\(name)}"
                let offset = text.distance(from: text.startIndex, to: open.lowerBound)
                rest = rest[rest.index(after: close)...]
                func problem(_ message: String) {
                    diagnostics.append(Diagnostic(.error, message, at: Self.mark(of: offset, in: text, node), length: reference.count))
                    out += reference
                }
                if name == "workdir" {
                    if case .workdir = scope { problem("${workdir} cannot be used in workdir itself") } else { out += workdir }
                } else if name == "stage" {
                    if case .stage(let stage, _) = scope { out += stage } else { problem("${stage} is known only inside a stage") }
                } else if name == "item" {
                    if workerRun { out += "\"$SANDLOCK_ITEM\"" } else { problem("${item} is known only in the run string of a map stage; elsewhere a worker reads $SANDLOCK_ITEM") }
                } else if name.hasPrefix("params.") {
                    let param = String(name.dropFirst("params.".count))
                    if let value = params[param] { out += value } else {
                        var message = "unknown parameter '\(param)'"
                        if let near = closestMatch(to: param, in: params.keys.sorted()) { message += " (did you mean '\(near)'?)" }
                        problem(message + (params.isEmpty ? "; declare it under params:" : ""))
                    }
                } else if name.hasPrefix("env.") {
                    let variable = String(name.dropFirst("env.".count))
                    if let value = environment(variable) { out += value } else { problem("environment variable '\(variable)' is not set (\(reference)); export it, or use a parameter with a default") }
                } else {
                    out += reference  // the shell's
                }
            }
            return out + rest
        }

        /// Where the character at `offset` of a scalar's text is: exact on a plain or quoted
        /// scalar's first line, else the scalar's start.
        static func mark(of offset: Int, in text: String, _ node: YAMLNode) -> SourceMark {
            let before = text.prefix(offset)
            guard !before.contains("\n"), node.start.line == node.end.line else { return node.start }
            guard case .scalar(let s) = node.content else { return node.start }
            return SourceMark(line: node.start.line, column: node.start.column + offset + (s.isPlain ? 0 : 1))
        }
    }
}
