import SandlockCore

/// `Manifest` → `Plan`: checks every cross reference (needs, policy names, `extends`),
/// finds dependency and `extends` cycles, resolves policies and paths, and orders the
/// stages. All problems are collected; a plan is returned only when there is no error.
public struct Planner: Sendable {
    /// When the inputs of `glob:`/`lines:` fan-outs are final (the runner plans right
    /// before a stage starts), a missing `lines` file is an error; otherwise (`plan`,
    /// `validate`) the count is "decided at run time" until the input exists.
    public var inputsAreFinal: Bool
    /// Base for a relative manifest path (default: the current directory).
    public var currentDirectory: String?
    /// Where `extends: [profile:NAME]` finds NAME.toml (default: the caller's profiles).
    public var profiles: ProfileStore

    public init(inputsAreFinal: Bool = false, currentDirectory: String? = nil, profiles: ProfileStore = .user()) {
        self.inputsAreFinal = inputsAreFinal
        self.currentDirectory = currentDirectory
        self.profiles = profiles
    }

    /// The plan, or `nil` when there is an error. A manifest with decoding errors may be
    /// passed (to collect more errors), but then no plan comes back.
    public func plan(_ manifest: Manifest) -> (plan: Plan?, diagnostics: [Diagnostic]) {
        var p = Planning(manifest: manifest, options: self)
        let plan = p.run()
        // A policy written in place and shared by several processes is checked once per
        // process; say each finding once.
        var seen = Set<Diagnostic>()
        let diagnostics = p.diagnostics.filter { seen.insert($0).inserted }
        let hasErrors = diagnostics.contains { $0.severity == .error }
        return (hasErrors ? nil : plan, diagnostics)
    }
}

private struct Planning {
    let manifest: Manifest
    let options: Planner
    var diagnostics: [Diagnostic] = []
    var workdir = "/"
    /// Named policies with `extends` applied; `nil` marks one that failed to resolve.
    var resolved: [String: PolicySpec?] = [:]
    var specs: [String: PolicySpec] = [:]
    var used: Set<String> = []
    /// Stages with a process that gets no policy at all.
    var unconfined: [Located<String>] = []
    /// Named policies with `extends` applied and paths made absolute, for every process
    /// that names them.
    var absoluteNamed: [String: PolicySpec] = [:]
    /// The stages each stage needs, as indices into `manifest.stages` (unknown ones left out).
    var needIndices: [[Int]] = []
    /// "Did you mean" suggestions left: each one compares a name with every stage or policy
    /// name, so a manifest full of unknown names gets a bounded number of them.
    var suggestionsLeft = Planning.maxSuggestions
    static let maxSuggestions = 20
    /// Dependency cycles reported at most; the rest are summed up in one more error.
    static let maxCycles = 20
    /// The most policies on one `extends` chain (the policy, its parent, its parent's, …).
    static let maxExtendsDepth = 64

    /// For "did you mean" after an unknown policy name.
    let policyNames: [String]

    init(manifest: Manifest, options: Planner) {
        self.manifest = manifest
        self.options = options
        self.policyNames = manifest.policies.map(\.name.value)
    }

    mutating func run() -> Plan? {
        let cwd = options.currentDirectory ?? FileSystem.currentDirectory
        let manifestPath = FileSystem.absolute(manifest.path, base: cwd)
        let manifestDir = FileSystem.directory(of: manifestPath)
        workdir = manifestDir
        if let w = manifest.workdir {
            if w.value.hasPrefix("~") {
                diagnostics.append(w.error("workdir: '~' is not expanded; write an absolute path or one relative to the manifest"))
            } else {
                workdir = FileSystem.absolute(w.value, base: manifestDir)
                if FileSystem.isDirectory(workdir) != true {
                    diagnostics.append(w.error("workdir: '\(workdir)' is not a directory"))
                }
            }
        }

        for (name, spec) in manifest.policies { specs[name.value] = spec }
        for (name, spec) in manifest.policies {
            checkPaths(spec, Context(owner: "policy '\(name.value)'"))
            var chain: [String] = []
            _ = resolveNamed(name.value, chain: &chain)
        }

        let stageIndex = Dictionary(manifest.stages.enumerated().map { ($1.name.value, $0) }, uniquingKeysWith: { a, _ in a })
        let stageNames = manifest.stages.map(\.name.value)
        needIndices = manifest.stages.map { $0.needs.compactMap { stageIndex[$0.value] } }
        for stage in manifest.stages {
            for need in stage.needs where stageIndex[need.value] == nil {
                var text = "stage '\(stage.name.value)': needs unknown stage '\(need.value)'"
                if let near = suggestion(for: need.value, in: stageNames) { text += " (did you mean '\(near)'?)" }
                diagnostics.append(need.error(text))
            }
            if stage.condition == .failure && stage.needs.isEmpty {
                diagnostics.append(stage.name.warning("stage '\(stage.name.value)': 'if: failure' never holds for a stage that needs nothing"))
            }
        }
        findCycles(stageIndex)
        let levels = computeLevels()

        var planned: [PlannedStage] = []
        planned.reserveCapacity(manifest.stages.count)
        for (i, stage) in manifest.stages.enumerated() {
            if let s = planStage(stage, level: levels[i]) { planned.append(s) }
        }
        if let first = unconfined.first {
            let names = quotedList(unconfined.map(\.value))
            diagnostics.append(first.warning("no policy for stage\(unconfined.count == 1 ? "" : "s") \(names): set 'policy:' or 'defaults.policy' (an empty policy grants nothing)"))
        }
        markUsedPolicies()
        for (name, _) in manifest.policies where !used.contains(name.value) {
            diagnostics.append(name.warning("policy '\(name.value)' is never used"))
        }
        guard !diagnostics.contains(where: { $0.severity == .error }) else { return nil }
        // A stage that failed to decode (its error is the decoder's) cannot be planned.
        guard planned.count == manifest.stages.count else { return nil }

        let maxLevel = levels.max() ?? -1
        var byLevel = [[String]](repeating: [], count: maxLevel + 1)
        for s in planned { byLevel[s.level].append(s.name) }
        // By level, stable: the order of the manifest within a level.
        let ordered = planned.indices.sorted { (planned[$0].level, $0) < (planned[$1].level, $1) }.map { planned[$0] }
        return Plan(
            name: manifest.name, description: manifest.description, manifestPath: manifestPath,
            workdir: workdir, stages: ordered, levels: byLevel)
    }

    // MARK: Policies

    /// Every policy name the manifest refers to, whether or not the referring part is valid.
    mutating func markUsedPolicies() {
        func mark(_ r: PolicyReference?, _ p: inout Planning) {
            switch r {
            case .named(let n): p.used.insert(n.value)
            case .inline(let spec): for e in spec.extends { p.used.insert(e.value) }
            case nil: break
            }
        }
        mark(manifest.defaults.policy, &self)
        for (_, spec) in manifest.policies { for e in spec.extends { used.insert(e.value) } }
        for stage in manifest.stages {
            mark(stage.policy, &self)
            mark(stage.reduce?.policy, &self)
            for m in stage.pipeline ?? [] { mark(m.policy, &self) }
        }
    }

    /// The named policy with its `extends` chain applied; reports unknown names and cycles.
    mutating func resolveNamed(_ name: String, chain: inout [String]) -> PolicySpec? {
        if let done = resolved[name] { return done }
        guard let spec = specs[name] else { return nil }
        chain.append(name)
        defer { chain.removeLast() }
        let result = applyExtends(spec, Context(owner: "policy '\(name)'"), chain: &chain)
        resolved[name] = .some(result)
        return result
    }

    mutating func applyExtends(_ spec: PolicySpec, _ ctx: Context, chain: inout [String]) -> PolicySpec? {
        var base: PolicySpec?
        var ok = true
        for parent in spec.extends {
            if parent.value.hasPrefix(Self.profilePrefix) {
                guard let p = profileSpec(parent, ctx) else { ok = false; continue }
                base = base.map { p.merged(over: $0) } ?? p
                continue
            }
            if let at = chain.firstIndex(of: parent.value) {
                // From the policy that closes the cycle, along "extends" arrows.
                let last = chain[chain.count - 1]
                let cycle = ([last] + chain[at..<(chain.count - 1)] + [last]).joined(separator: " → ")
                diagnostics.append(parent.error(ctx.message("extends cycle: \(cycle)")))
                ok = false
                continue
            }
            guard specs[parent.value] != nil else {
                var text = "extends unknown policy '\(parent.value)'"
                if let near = suggestion(for: parent.value, in: policyNames) { text += " (did you mean '\(near)'?)" }
                diagnostics.append(parent.error(ctx.message(text)))
                ok = false
                continue
            }
            if resolved[parent.value] == nil, chain.count >= Self.maxExtendsDepth {
                // Resolving recurses along the chain: a bound keeps the stack safe.
                let names = Self.arrows(chain + [parent.value])
                diagnostics.append(parent.error(ctx.message("extends chain longer than \(Self.maxExtendsDepth) policies: \(names)")))
                ok = false
                continue
            }
            guard let p = resolveNamed(parent.value, chain: &chain) else { ok = false; continue }
            base = base.map { p.merged(over: $0) } ?? p
        }
        guard ok else { return nil }
        return base.map { spec.merged(over: $0) } ?? spec
    }

    /// `extends: [profile:NAME]`: sandlock's TOML profile NAME, as if it were a policy of the
    /// manifest whose every field is written at the `extends` entry.
    static let profilePrefix = "profile:"

    mutating func profileSpec(_ reference: Located<String>, _ ctx: Context) -> PolicySpec? {
        let name = String(reference.value.dropFirst(Self.profilePrefix.count))
        let profile: Profile
        do throws(ProfileError) {
            profile = try options.profiles.load(name)
        } catch {
            diagnostics.append(reference.error(ctx.message("extends \(reference.value): \(error)")))
            return nil
        }
        var spec = PolicySpec(mark: reference.mark)
        spec.values = profile.policy
        for field in Policy.fields where !field.isDefault(in: profile.policy) {
            guard let key = field.manifest else {
                diagnostics.append(reference.error(ctx.message(
                    "extends \(reference.value): \(field.name) (set by \(profile.path)) cannot be set in a manifest")))
                return nil
            }
            spec.written[field.name] = Located(key, mark: reference.mark, length: reference.length)
            // List items point at the `extends` entry too (where a missing path is reported).
            let items = field.grammar.isList ? field.arguments(of: profile.policy) : []
            if !items.isEmpty { spec.items[field.name] = items.map { Located($0, mark: reference.mark, length: reference.length) } }
        }
        return spec
    }

    /// `closestMatch`, while suggestions are left.
    mutating func suggestion(for word: String, in candidates: [String]) -> String? {
        guard suggestionsLeft > 0 else { return nil }
        suggestionsLeft -= 1
        return closestMatch(to: word, in: candidates)
    }

    /// The effective policy of a process and a label saying where it came from.
    /// The context is where the policy is written, for diagnostics about its fields.
    mutating func policy(for reference: PolicyReference?, _ ctx: Context) -> (PolicySpec, String, Context)? {
        switch reference {
        case nil:
            return (PolicySpec(mark: SourceMark(line: 1, column: 1)), "none", ctx)
        case .named(let name):
            guard specs[name.value] != nil else {
                var text = "unknown policy '\(name.value)'"
                if let near = suggestion(for: name.value, in: policyNames) { text += " (did you mean '\(near)'?)" }
                diagnostics.append(name.error(ctx.message(text)))
                return nil
            }
            let owner = Context(owner: "policy '\(name.value)'")
            if let done = absoluteNamed[name.value] { return (done, name.value, owner) }
            guard let r = resolved[name.value] ?? nil else { return nil }
            let absolute = absolutePaths(r)
            absoluteNamed[name.value] = absolute
            return (absolute, name.value, owner)
        case .inline(let spec):
            checkPaths(spec, ctx)
            var chain: [String] = []
            guard let r = applyExtends(spec, ctx, chain: &chain) else { return nil }
            let label = spec.extends.isEmpty ? "inline" : "inline, extends " + spec.extends.map(\.value).joined(separator: ", ")
            return (absolutePaths(r), label, ctx)
        }
    }

    /// Reports relative paths that leave the workdir, `~` paths, and broad grants.
    mutating func checkPaths(_ spec: PolicySpec, _ ctx: Context) {
        for field in Policy.fields {
            guard case .paths = field.grammar, let key = field.manifest else { continue }
            let c = key.section.map { ctx.with($0) } ?? ctx
            for path in spec.items[field.name] ?? [] {
                _ = checkedPath(path, c.with(key.key))
                if field.name == "fs_writable", FileSystem.normalize(path.value) == "/", path.value.hasPrefix("/") {
                    diagnostics.append(path.warning(ctx.with(key.path).message("grants write access to the whole filesystem ('/')")))
                }
            }
        }
    }

    /// The absolute form of a path; `nil` (after an error) when a relative path escapes.
    mutating func checkedPath(_ path: Located<String>, _ ctx: Context) -> String? {
        if path.value.hasPrefix("~") {
            diagnostics.append(path.error(ctx.message("'~' is not expanded; write an absolute path or one relative to the workdir")))
            return nil
        }
        let absolute = FileSystem.absolute(path.value, base: workdir)
        if !path.value.hasPrefix("/") && !FileSystem.isInside(absolute, workdir) {
            diagnostics.append(path.error(ctx.message("relative path '\(path.value)' leaves the workdir (write an absolute path to mean it)")))
            return nil
        }
        return absolute
    }

    func absolutePaths(_ spec: PolicySpec) -> PolicySpec {
        var s = spec
        for field in Policy.fields {
            guard case .paths(let ref) = field.grammar else { continue }
            s.values[keyPath: ref] = spec.values[keyPath: ref].map { FileSystem.absolute($0, base: workdir) }
            s.items[field.name] = spec.items[field.name]?.map { var p = $0; p.value = FileSystem.absolute($0.value, base: workdir); return p }
        }
        return s
    }

    /// `Policy.validate()` for a process's resolved policy: each problem is reported at the
    /// key (or list item) that set the field, else at the stage.
    mutating func validate(_ policy: Policy, _ spec: PolicySpec, _ ctx: Context, stage: Located<String>, _ stageCtx: Context) {
        for problem in policy.violations() {
            guard let field = PolicyField.named(problem.field) else { continue }
            if let written = spec.written[field.name] {
                let item = problem.item.flatMap { index in spec.items[field.name].flatMap { index < $0.count ? $0[index] : nil } }
                let text = ctx.with(written.value.path).message(problem.message)
                diagnostics.append(item.map { $0.error(text) } ?? written.error(text))
            } else {
                diagnostics.append(stage.error(stageCtx.message("\(field.name): \(problem.message)")))
            }
        }
    }

    // MARK: Stages

    /// Reports each dependency cycle once (at most `maxCycles` of them), at the `needs`
    /// entry that closes it. An iterative depth-first search: a chain of 100,000 stages
    /// must not exhaust the stack, and the position of each stage on the search path is
    /// kept so that closing a cycle costs its length, not the path's.
    mutating func findCycles(_ index: [String: Int]) {
        let count = manifest.stages.count
        var state = [UInt8](repeating: 0, count: count)  // 0 new, 1 on the path, 2 done
        var position = [Int](repeating: -1, count: count)  // index on `path` while on it
        var path: [(stage: Int, next: Int)] = []
        var cycles = 0
        var closed = Set<Int>()
        for root in 0..<count where state[root] == 0 {
            state[root] = 1
            position[root] = 0
            path.append((root, 0))
            while let (i, k) = path.last {
                let needs = manifest.stages[i].needs
                guard k < needs.count else {
                    path.removeLast()
                    state[i] = 2
                    position[i] = -1
                    continue
                }
                path[path.count - 1].next = k + 1
                let need = needs[k]
                guard let j = index[need.value] else { continue }
                if state[j] == 1 {
                    // `needs: [a, a]` closes the same cycle twice; it is one cycle.
                    guard closed.insert(i &* count &+ j).inserted else { continue }
                    cycles += 1
                    guard cycles <= Self.maxCycles else { continue }
                    // From the stage whose `needs` closes the cycle, along "needs" arrows.
                    let members = path[position[j]...].map(\.stage)
                    let names = ([i] + members.dropLast() + [i]).map { manifest.stages[$0].name.value }
                    diagnostics.append(need.error("stage '\(manifest.stages[i].name.value)': dependency cycle: \(Self.arrows(names))"))
                } else if state[j] == 0 {
                    state[j] = 1
                    position[j] = path.count
                    path.append((j, 0))
                }
            }
        }
        if cycles > Self.maxCycles, let first = manifest.stages.first {
            diagnostics.append(first.name.error("\(grouped(cycles - Self.maxCycles)) more dependency cycles (the first \(Self.maxCycles) are reported)"))
        }
    }

    /// `a → b → c → a`; a cycle of more than 12 stages shows its first and last 5.
    static func arrows(_ names: [String]) -> String {
        guard names.count > 12 else { return names.joined(separator: " → ") }
        return (names.prefix(5) + ["… \(grouped(names.count - 10)) more …"] + names.suffix(5)).joined(separator: " → ")
    }

    /// Level of each stage: 0 without needs, else one more than its highest need. A need
    /// on a cycle counts as level 0 (the cycle is already an error). Iterative, in the
    /// order a recursive walk would visit the stages.
    func computeLevels() -> [Int] {
        let count = manifest.stages.count
        var level = [Int](repeating: -1, count: count)
        var state = [UInt8](repeating: 0, count: count)  // 0 new, 1 on the path, 2 done
        var path: [(stage: Int, next: Int, highest: Int)] = []
        for root in 0..<count where state[root] == 0 {
            state[root] = 1
            path.append((root, 0, -1))
            while let (i, k, highest) = path.last {
                let needs = needIndices[i]
                if k < needs.count {
                    path[path.count - 1].next = k + 1
                    let j = needs[k]
                    switch state[j] {
                    case 2: path[path.count - 1].highest = max(highest, level[j])
                    case 1: break  // on a cycle: counts as -1
                    default:
                        state[j] = 1
                        path.append((j, 0, -1))
                    }
                    continue
                }
                path.removeLast()
                level[i] = highest + 1
                state[i] = 2
                if !path.isEmpty { path[path.count - 1].highest = max(path[path.count - 1].highest, level[i]) }
            }
        }
        return level
    }

    mutating func planStage(_ stage: StageSpec, level: Int) -> PlannedStage? {
        let ctx = Context(owner: "stage '\(stage.name.value)'")
        // A policy is reported where it is written: a member's own, the stage's, or the default.
        let stageRef = stage.policy ?? manifest.defaults.policy
        let stageRefCtx = stage.policy != nil ? ctx.with("policy") : Context().with("defaults.policy")
        func own(_ ref: PolicyReference?, _ c: Context) -> (PolicyReference?, Context) {
            ref != nil ? (ref, c.with("policy")) : (stageRef, stageRefCtx)
        }
        let cwd = stage.cwd.flatMap { checkedPath($0, ctx.with("cwd")) } ?? workdir
        let timeout = stage.timeout ?? manifest.defaults.timeout
        let baseEnv = mergeEnvironment(manifest.env)
        let shell = stage.shell ?? manifest.defaults.shell ?? manifest.shell ?? .standard
        // The last process's policy as written, and the worker's: the warning about grants
        // the per-shard grant makes unnecessary points at them.
        var workerSpec: PolicySpec?, workerPolicy: PolicySpec?

        func process(_ run: CommandSpec, _ ref: (PolicyReference?, Context), env: [(key: String, value: String)], cwd: String, _ p: inout Planning) -> PlannedProcess? {
            if ref.0 == nil, p.unconfined.last?.value != stage.name.value { p.unconfined.append(stage.name) }
            guard let (spec, label, specCtx) = p.policy(for: ref.0, ref.1) else { return nil }
            workerSpec = spec
            var policy = spec.policy(env: mergeEnvironment(baseEnv, spec.environment, stage.env, env))
            policy.cwd = cwd
            policy.timeout = timeout
            // What `sandlock run` and the engine would reject, `validate` rejects here.
            p.validate(policy, spec, specCtx, stage: stage.name, ctx)
            // No `name`: a named sandbox is registered for `sandlock ps` and gets its own host
            // name, which shards of one stage cannot share; the runner names what it runs.
            return PlannedProcess(argv: run.argv(shell), policy: policy, policySource: label)
        }

        let work: PlannedStage.Work
        if let members = stage.pipeline {
            var planned: [PlannedProcess] = []
            for (i, m) in members.enumerated() {
                let mcwd = m.cwd.flatMap { checkedPath($0, ctx.with("pipeline[\(i)].cwd")) } ?? cwd
                guard let pp = process(m.run, own(m.policy, ctx.with("pipeline[\(i)]")), env: m.env, cwd: mcwd, &self) else { continue }
                planned.append(pp)
            }
            guard planned.count == members.count else { return nil }
            work = .pipeline(planned)
        } else if let run = stage.run {
            guard let worker = process(run, (stageRef, stageRefCtx), env: [], cwd: cwd, &self) else { return nil }
            workerPolicy = workerSpec
            if let map = stage.map {
                var reducer: PlannedProcess?
                if let r = stage.reduce {
                    let rcwd = r.cwd.flatMap { checkedPath($0, ctx.with("reduce.cwd")) } ?? cwd
                    guard let rp = process(r.run, own(r.policy, ctx.with("reduce")), env: r.env, cwd: rcwd, &self) else { return nil }
                    reducer = rp
                }
                guard let source = itemSource(map.over, ctx.with("map.over")) else { return nil }
                work = .map(PlannedMap(source: source, maxParallel: map.maxParallel, allowFailures: stage.allowFailures, worker: worker, reduce: reducer))
            } else {
                work = .command(worker)
            }
        } else {
            return nil
        }
        var artifacts: [String] = []
        for path in stage.artifacts { if let a = artifact(path, ctx.with("artifacts")) { artifacts.append(a) } }
        let planned = PlannedStage(
            name: stage.name.value, description: stage.description, needs: stage.needs.map(\.value),
            level: level, condition: stage.condition, timeout: timeout,
            retry: stage.retry ?? manifest.defaults.retry,
            onSuccess: stage.onSuccess?.value ?? manifest.defaults.onSuccess ?? .commit,
            onFailure: stage.onFailure?.value ?? manifest.defaults.onFailure ?? .abort,
            work: work, cache: cachePlan(stage, ctx), secrets: stage.secrets.map(\.value), artifacts: artifacts)
        if let spec = workerPolicy { warnAboutWholeItemRoot(planned, spec, stage.name, ctx) }
        // Only writes inside the workdir go through a copy-on-write workspace; a disposition
        // the stage sets itself (not one from `defaults`) is then likely a mistake.
        let writesInWorkdir = planned.processes.contains { p in p.policy.fsWritable.contains { FileSystem.isInside($0, workdir) } }
        if !writesInWorkdir {
            for (key, value) in [("on_success", stage.onSuccess), ("on_failure", stage.onFailure)] {
                guard let value else { continue }
                diagnostics.append(value.warning(ctx.message("\(key) has no effect: no filesystem.write path inside the workdir")))
            }
        }
        return planned
    }

    /// `inputs`, `outputs` (the stage's, its pipeline members' and its reducer's) and `cache`,
    /// absolute. An output must lie inside the workdir: the runner writes it back on a hit.
    mutating func cachePlan(_ stage: StageSpec, _ ctx: Context) -> CachePlan {
        func paths(_ list: [Located<String>], _ key: String) -> [String] {
            list.compactMap { checkedPath($0, ctx.with(key)) }
        }
        var outputs: [String] = []
        for (key, list) in [("outputs", stage.outputs), ("reduce.outputs", stage.reduce?.outputs ?? [])]
            + (stage.pipeline ?? []).enumerated().map({ ("pipeline[\($0)].outputs", $1.outputs) }) {
            for path in list {
                guard let absolute = checkedPath(path, ctx.with(key)) else { continue }
                if !FileSystem.isInside(absolute, workdir) || absolute == workdir {
                    diagnostics.append(path.error(ctx.with(key).message("'\(path.value)' is not inside the workdir \(workdir): the cache puts outputs back there, nowhere else")))
                } else if FileSystem.isInside(absolute, RunDirectory.stateDirectory(workdir: workdir)) {
                    diagnostics.append(path.error(ctx.with(key).message("'\(path.value)' is inside the runner's own directory .sandlock-jobs")))
                } else if absolute.contains(where: { "*?[".contains($0) }) {
                    diagnostics.append(path.error(ctx.with(key).message("'\(path.value)': outputs are paths, not patterns (a directory stands for everything under it)")))
                } else {
                    outputs.append(absolute)
                }
            }
        }
        var inputs = paths(stage.inputs, "inputs")
        for (i, member) in (stage.pipeline ?? []).enumerated() { inputs += paths(member.inputs, "pipeline[\(i)].inputs") }
        return CachePlan(enabled: stage.cache ?? manifest.defaults.cache ?? true, inputs: inputs, outputs: outputs,
                         reduceInputs: paths(stage.reduce?.inputs ?? [], "reduce.inputs"))
    }

    /// An `artifacts:` path: absolute, inside the workdir (the runner copies it out of the
    /// stage's view of the workdir).
    mutating func artifact(_ path: Located<String>, _ ctx: Context) -> String? {
        guard let absolute = checkedPath(path, ctx) else { return nil }
        guard FileSystem.isInside(absolute, workdir), absolute != workdir else {
            diagnostics.append(path.error(ctx.message("'\(path.value)' is not inside the workdir; artifacts are files or directories a stage leaves in the workdir")))
            return nil
        }
        return absolute
    }

    /// A fan-out over paths grants each shard its own item; a worker grant of the whole
    /// item root (or more of the workdir) gives every shard every item anyway.
    mutating func warnAboutWholeItemRoot(_ stage: PlannedStage, _ spec: PolicySpec, _ name: Located<String>, _ ctx: Context) {
        guard case .map(let map) = stage.work, let root = map.source.itemRoot(workdir: workdir) else { return }
        for grant in stage.grantsCoveringItemRoot(workdir: workdir) {
            let written = [("filesystem.read", "fs_readable"), ("filesystem.write", "fs_writable")].lazy
                .compactMap { key, field in spec.items[field]?.first { $0.value == grant }.map { (key, $0) } }
                .first
            let text = ctx.message("\(written?.0 ?? "filesystem.read") '\(grant)' gives every shard all of '\(root)'; each shard may read its own item already (drop the grant to keep shards apart)")
            diagnostics.append(written?.1.warning(text) ?? name.warning(text))
        }
    }

    mutating func itemSource(_ spec: ItemSourceSpec, _ ctx: Context) -> ItemSource? {
        switch spec {
        case .items(let items): return .items(items)
        case .shards(let n): return .shards(n)
        case .matrix(let combinations): return .matrix(combinations)
        case .glob(let pattern):
            guard let absolute = checkedPath(pattern, ctx.with("glob")) else { return nil }
            let matches = FileSystem.glob(absolute)
            return .glob(pattern: absolute, matches: matches.isEmpty && !options.inputsAreFinal ? nil : matches)
        case .lines(let file):
            guard let absolute = checkedPath(file, ctx.with("lines")) else { return nil }
            do {
                let text = try FileSystem.read(absolute)
                let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map(String.init).filter { !$0.isEmpty }
                return .lines(file: absolute, items: lines)
            } catch {
                if options.inputsAreFinal {
                    diagnostics.append(file.error(ctx.message("cannot read '\(absolute)': \(error.reason)")))
                    return nil
                }
                return .lines(file: absolute, items: nil)
            }
        }
    }
}
