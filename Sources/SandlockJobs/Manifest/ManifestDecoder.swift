import SandlockCore

/// Node tree → `Manifest`: shapes, types and unknown keys. Cross references (needs,
/// policy names, cycles, paths) are the planner's job.
struct ManifestDecoder {
    var reader = NodeReader()

    mutating func decode(_ root: YAMLNode?, path: String) -> Manifest? {
        var manifest = Manifest(path: path, name: Self.defaultName(path))
        guard let root, !root.isNull else {
            reader.diagnostics.append(Diagnostic(.error, "the manifest is empty; it needs at least 'version: 1' and 'stages'", at: root?.start))
            return nil
        }
        let top = Context()
        guard let fields = reader.fields(root, top, ManifestVocabulary.manifest, expected: "a mapping with 'version' and 'stages'", extensionPrefix: ManifestVocabulary.extensionPrefix)
        else { return nil }

        if let node = fields["version"] {
            if let version = reader.int(node, top.with("version"), in: 0...Int.max) {
                if version != 1 { reader.error(top, "unsupported manifest version \(version) (this sandlock-jobs reads version 1)", at: node) }
                manifest.version = version
            }
        } else {
            reader.diagnostics.append(Diagnostic(.error, "missing 'version: 1'", at: root.start))
        }
        if let node = fields["name"], let name = reader.string(node, top.with("name")) { manifest.name = name }
        if let node = fields["description"] { manifest.description = reader.string(node, top.with("description"), allowEmpty: true) }
        if let node = fields["workdir"] { manifest.workdir = reader.located(node, top.with("workdir")) }
        if let node = fields["env"] { manifest.env = reader.environment(node, top.with("env")) ?? [] }
        if let node = fields["shell"] { manifest.shell = shell(node, top.with("shell")) }
        if let node = fields["policies"] {
            let ctx = top.with("policies")
            for pair in reader.entries(node, ctx, expected: "a mapping of policy names to policies") ?? [] {
                let name = Located(pair.key.scalarText ?? "", at: pair.key)
                if let policy = policy(pair.value, Context(owner: "policy '\(name.value)'")) {
                    manifest.policies.append((name, policy))
                }
            }
        }
        if let node = fields["defaults"], let d = reader.fields(node, top.with("defaults"), ManifestVocabulary.defaults) {
            let ctx = top.with("defaults")
            if let p = d["policy"] { manifest.defaults.policy = policyReference(p, ctx.with("policy")) }
            if let t = d["timeout"] { manifest.defaults.timeout = reader.duration(t, ctx.with("timeout")) }
            if let r = d["retry"] { manifest.defaults.retry = retry(r, ctx.with("retry")) }
            if let n = d["on_success"] { manifest.defaults.onSuccess = disposition(n, ctx.with("on_success")) }
            if let n = d["on_failure"] { manifest.defaults.onFailure = disposition(n, ctx.with("on_failure")) }
            if let n = d["shell"] { manifest.defaults.shell = shell(n, ctx.with("shell")) }
            if let n = d["cache"] { manifest.defaults.cache = reader.bool(n, ctx.with("cache")) }
        }
        if let node = fields["stages"] {
            let pairs = reader.entries(node, top.with("stages"), expected: "a mapping of stage names to stages") ?? []
            if pairs.count > ManifestLoader.maxStages {
                reader.diagnostics.append(.error("the manifest has \(grouped(pairs.count)) stages, over the limit of \(grouped(ManifestLoader.maxStages)); split the job into smaller manifests", at: fields.keyNode("stages") ?? node))
                return nil
            }
            manifest.stages.reserveCapacity(pairs.count)
            for pair in pairs {
                if let s = stage(name: pair.key, pair.value) { manifest.stages.append(s) }
            }
            if pairs.isEmpty, case .mapping = node.content {
                reader.diagnostics.append(.error("the manifest has no stages", at: node))
            }
        } else {
            reader.diagnostics.append(Diagnostic(.error, "missing 'stages' (the manifest has no stages)", at: root.start))
        }
        return manifest
    }

    static func defaultName(_ path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        for ext in [".yaml", ".yml"] where file.hasSuffix(ext) { return String(file.dropLast(ext.count)) }
        return file
    }

    // MARK: Stages

    private mutating func stage(name key: YAMLNode, _ node: YAMLNode) -> StageSpec? {
        let name = Located(key.scalarText ?? "", at: key)
        let ctx = Context(owner: "stage '\(name.value)'")
        if !Self.isValidStageName(name.value) {
            reader.diagnostics.append(name.error("stage name '\(name.value)' may only contain letters, digits, '_', '-' and '.'"))
        }
        guard let f = reader.fields(node, ctx, ManifestVocabulary.stage, expected: "a mapping with 'run' or 'pipeline'")
        else { return nil }
        var stage = StageSpec(name: name)
        if let n = f["description"] { stage.description = reader.string(n, ctx.with("description"), allowEmpty: true) }
        if let n = f["needs"] { stage.needs = reader.strings(n, ctx.with("needs"), single: true) ?? [] }
        // The keys that decide what a stage is may not be null (`run:` alone is an error).
        if let n = f.pairs["run"]?.value { stage.run = command(n, ctx.with("run")) }
        if let n = f.pairs["pipeline"]?.value, let members = reader.list(n, ctx.with("pipeline")) {
            if members.isEmpty { reader.error(ctx.with("pipeline"), "a pipeline needs at least one member", at: n) }
            stage.pipeline = members.enumerated().compactMap { i, m in process(m, ctx.with("pipeline[\(i)]")) }
        }
        if let n = f.pairs["map"]?.value { stage.map = map(n, ctx.with("map")) }
        if let n = f.pairs["reduce"]?.value { stage.reduce = process(n, ctx.with("reduce")) }
        if let n = f["policy"] { stage.policy = policyReference(n, ctx.with("policy")) }
        if let n = f["env"] { stage.env = reader.environment(n, ctx.with("env")) ?? [] }
        if let n = f["cwd"] { stage.cwd = reader.located(n, ctx.with("cwd")) }
        if let n = f["shell"] { stage.shell = shell(n, ctx.with("shell")) }
        if let n = f["secrets"] { stage.secrets = reader.variableNames(n, ctx.with("secrets")) ?? [] }
        if let n = f["artifacts"] { stage.artifacts = reader.strings(n, ctx.with("artifacts"), single: true) ?? [] }
        if let n = f["timeout"] { stage.timeout = reader.duration(n, ctx.with("timeout")) }
        if let n = f["retry"] { stage.retry = retry(n, ctx.with("retry")) }
        if let n = f["if"], let c = reader.choice(n, ctx.with("if"), ManifestVocabulary.conditions) {
            stage.condition = StageCondition(rawValue: c) ?? .success
        }
        for key in ["on_success", "on_failure"] {
            guard let n = f[key], let k = f.keyNode(key), let d = disposition(n, ctx.with(key)) else { continue }
            // Located at the key: the planner's "has no effect" warning points there.
            if key == "on_success" { stage.onSuccess = Located(d, at: k) } else { stage.onFailure = Located(d, at: k) }
        }
        if let n = f["inputs"] { stage.inputs = reader.strings(n, ctx.with("inputs"), single: true) ?? [] }
        if let n = f["outputs"] { stage.outputs = reader.strings(n, ctx.with("outputs"), single: true) ?? [] }
        if let n = f["cache"] { stage.cache = reader.bool(n, ctx.with("cache")) }
        if let n = f["allow_failures"] {
            stage.allowFailures = reader.quantity(n, ctx.with("allow_failures"), "a number of workers or a percentage like 10%") { text in
                if let count = Int(text), count >= 0 { return FailureAllowance.count(count) }
                return Quantities.percent(text).map(FailureAllowance.percent)
            }
        }

        // Shape rules between keys.
        let hasRun = f.pairs["run"] != nil, hasPipeline = f.pairs["pipeline"] != nil
        if hasRun && hasPipeline, let k = f.keyNode("pipeline") {
            reader.error(ctx, "'run' and 'pipeline' are exclusive; a stage has one of them", at: k)
        } else if !hasRun && !hasPipeline {
            reader.error(ctx, "a stage needs 'run' (one command) or 'pipeline' (commands joined by pipes)", at: key)
        }
        if hasPipeline, let k = f.keyNode("map") {
            reader.error(ctx, "a map stage runs one command per item; use 'run', not 'pipeline'", at: k)
        }
        if f.pairs["map"] == nil {
            for key in ["reduce", "allow_failures"] {
                if let k = f.keyNode(key) { reader.error(ctx, "'\(key)' applies to map stages only (add 'map:')", at: k) }
            }
        }
        return stage
    }

    static func isValidStageName(_ name: String) -> Bool {
        !name.isEmpty && name.first != "." && name.first != "-"
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)) }
    }

    private mutating func command(_ node: YAMLNode, _ ctx: Context) -> CommandSpec? {
        switch node.content {
        case .scalar(let s) where !node.isNull && !s.text.isEmpty:
            return .shell(s.text)
        case .sequence(let items) where !items.isEmpty:
            let argv = items.compactMap { reader.string($0, ctx, allowEmpty: true) }
            return argv.count == items.count ? .argv(argv) : nil
        default:
            reader.mismatch(ctx, "a command (a string for the shell, or a non-empty list for argv)", node)
            return nil
        }
    }

    /// `shell:`: `default`, `bash`, `sh`, or an argv template with "{0}" where the script goes.
    private mutating func shell(_ node: YAMLNode, _ ctx: Context) -> Shell? {
        if case .sequence(let items) = node.content, !items.isEmpty {
            let words = items.compactMap { reader.string($0, ctx, allowEmpty: true) }
            guard words.count == items.count else { return nil }
            guard words.contains(where: { $0.contains(Shell.placeholder) }) else {
                reader.error(ctx, "a shell template needs \"\(Shell.placeholder)\" where the script goes, like [python3, -c, \"\(Shell.placeholder)\"]", at: node)
                return nil
            }
            return .template(words)
        }
        if case .scalar = node.content, !node.isNull {
            return reader.choice(node, ctx, ManifestVocabulary.shells).map { name in
                switch name {
                case "bash": .bash
                case "sh": .sh
                default: .standard
                }
            }
        }
        reader.mismatch(ctx, "a shell (default, bash, sh, or an argv template like [python3, -c, \"\(Shell.placeholder)\"])", node)
        return nil
    }

    /// A pipeline member or a reducer.
    private mutating func process(_ node: YAMLNode, _ ctx: Context) -> ProcessSpec? {
        guard let f = reader.fields(node, ctx, ManifestVocabulary.process, expected: "a mapping with 'run'") else { return nil }
        guard let runNode = f["run"] else {
            reader.error(ctx, "missing 'run'", at: node)
            return nil
        }
        guard let run = command(runNode, ctx.with("run")) else { return nil }
        var p = ProcessSpec(mark: node.start, run: run)
        if let n = f["policy"] { p.policy = policyReference(n, ctx.with("policy")) }
        if let n = f["env"] { p.env = reader.environment(n, ctx.with("env")) ?? [] }
        if let n = f["cwd"] { p.cwd = reader.located(n, ctx.with("cwd")) }
        if let n = f["inputs"] { p.inputs = reader.strings(n, ctx.with("inputs"), single: true) ?? [] }
        if let n = f["outputs"] { p.outputs = reader.strings(n, ctx.with("outputs"), single: true) ?? [] }
        return p
    }

    private mutating func map(_ node: YAMLNode, _ ctx: Context) -> MapSpec? {
        guard let f = reader.fields(node, ctx, ManifestVocabulary.map) else { return nil }
        var maxParallel: Int?
        if let n = f["max_parallel"] { maxParallel = reader.int(n, ctx.with("max_parallel"), in: 1...Int.max) }
        guard let overNode = f["over"] else {
            reader.error(ctx, "missing 'over' (glob, items, shards, lines or matrix)", at: node)
            return nil
        }
        let octx = ctx.with("over")
        guard let o = reader.fields(overNode, octx, ManifestVocabulary.over, expected: "a mapping with one of glob, items, shards, lines, matrix")
        else { return nil }
        let given = o.order.filter { o[$0] != nil }
        guard let kind = given.first, let value = o[kind] else {
            reader.error(octx, "needs one of 'glob', 'items', 'shards', 'lines' or 'matrix'", at: overNode)
            return nil
        }
        for extra in given.dropFirst() {
            if let k = o.keyNode(extra) { reader.error(octx, "'\(kind)' and '\(extra)' are exclusive; a fan-out has one source", at: k) }
        }
        let source: ItemSourceSpec?
        switch kind {
        case "items":
            if let items = reader.list(value, octx.with("items")) {
                let strings = items.compactMap { item -> String? in
                    guard case .scalar(let s) = item.content, !item.isNull else {
                        reader.mismatch(octx.with("items"), "a scalar item", item)
                        return nil
                    }
                    return s.text
                }
                if items.isEmpty { reader.error(octx.with("items"), "the list of items is empty", at: value) }
                source = strings.count == items.count && !items.isEmpty ? .items(strings) : nil
            } else { source = nil }
        case "shards":
            source = reader.int(value, octx.with("shards"), in: 1...1_000_000).map(ItemSourceSpec.shards)
        case "glob":
            source = reader.located(value, octx.with("glob")).map(ItemSourceSpec.glob)
        case "matrix":
            source = reader.matrix(value, octx.with("matrix")).map(ItemSourceSpec.matrix)
        default:
            source = reader.located(value, octx.with("lines")).map(ItemSourceSpec.lines)
        }
        guard let source else { return nil }
        return MapSpec(mark: node.start, over: source, maxParallel: maxParallel)
    }

    /// `on_success` / `on_failure`: commit, abort or keep.
    private mutating func disposition(_ node: YAMLNode, _ ctx: Context) -> Disposition? {
        reader.choice(node, ctx, ManifestVocabulary.dispositions).flatMap(Disposition.init(rawValue:))
    }

    private mutating func retry(_ node: YAMLNode, _ ctx: Context) -> RetrySpec? {
        if case .scalar = node.content {
            return reader.int(node, ctx, in: 0...100).map { RetrySpec(limit: $0) }
        }
        guard let f = reader.fields(node, ctx, ManifestVocabulary.retry, expected: "a number of retries or a mapping with 'limit'") else { return nil }
        var spec = RetrySpec(limit: 1)
        if let n = f["limit"], let limit = reader.int(n, ctx.with("limit"), in: 0...100) { spec.limit = limit }
        if let n = f["on"], let items = reader.list(n, ctx.with("on"), single: true) {
            spec.on = items.compactMap { item in
                reader.choice(item, ctx.with("on"), ManifestVocabulary.retryReasons).flatMap(RetryReason.init(rawValue:))
            }
        }
        if let n = f["backoff"] {
            let bctx = ctx.with("backoff")
            if case .scalar = n.content {
                spec.backoff.delay = reader.duration(n, bctx) ?? .zero
            } else if let b = reader.fields(n, bctx, ManifestVocabulary.backoff, expected: "a duration or a mapping with 'delay'") {
                if let d = b["delay"] { spec.backoff.delay = reader.duration(d, bctx.with("delay")) ?? .zero }
                if let m = b["max"] { spec.backoff.max = reader.duration(m, bctx.with("max")) }
                if let x = b["factor"] {
                    spec.backoff.factor = reader.quantity(x, bctx.with("factor"), "a factor of at least 1 like 2 or 1.5") { text in
                        Quantities.decimal(text).flatMap { $0 >= 1 && $0 <= 100 ? $0 : nil }
                    } ?? 1
                }
            }
        }
        return spec
    }

    // MARK: Policies

    private mutating func policyReference(_ node: YAMLNode, _ ctx: Context) -> PolicyReference? {
        if case .scalar = node.content {
            return reader.located(node, ctx).map(PolicyReference.named)
        }
        return policy(node, ctx).map(PolicyReference.inline)
    }

    mutating func policy(_ node: YAMLNode, _ ctx: Context) -> PolicySpec? {
        guard let f = reader.fields(node, ctx, ManifestVocabulary.policy, expected: "a policy (a mapping of sections) or a policy name")
        else { return nil }
        var p = PolicySpec(mark: node.start)
        if let n = f["extends"] { p.extends = reader.strings(n, ctx.with("extends"), single: true) ?? [] }
        if let n = f["description"] { p.description = reader.string(n, ctx.with("description"), allowEmpty: true) }
        // The policy's own keys (`allow_degraded`), then its sections, as `Policy.fields` says.
        for field in Policy.fields {
            guard let key = field.manifest, key.section == nil, let v = f[key.key] else { continue }
            decode(field, v, ctx.with(key.key), into: &p)
        }
        for section in ManifestKey.sections {
            guard let n = f[section] else { continue }
            let c = ctx.with(section)
            guard let s = reader.fields(n, c, ManifestVocabulary.keys(of: section)) else { continue }
            for field in Policy.fields {
                guard let key = field.manifest, key.section == section, let v = s[key.key] else { continue }
                decode(field, v, c.with(key.key), into: &p)
            }
        }
        return p
    }
}
