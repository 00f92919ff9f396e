import SandlockCore

/// A validated, resolved manifest: the input of the runner. Every policy is merged and
/// turned into a `SandlockCore.Policy` (absolute paths, environment merged, timeout set),
/// every dependency exists, and the stages are in topological order with parallel levels.
public struct Plan: Sendable, Hashable, Codable {
    public var name: String
    public var description: String?
    /// Absolute path of the manifest.
    public var manifestPath: String
    /// Absolute path of the tree the stages work in; relative paths were resolved against it.
    public var workdir: String
    /// Stages in topological order: every stage comes after the stages it needs, and stages
    /// of one level keep the order of the manifest.
    public var stages: [PlannedStage]
    /// Stage names by level: level 0 needs nothing, level n needs only stages of lower
    /// levels, so all stages of one level may run at the same time.
    public var levels: [[String]]
    /// Where each stage is in `stages`, so that `stage(_:)` is a lookup, not a search
    /// (rendering, the runner and the run records ask for every stage by name). Derived
    /// from `stages`: neither encoded nor compared.
    private var index: [String: Int]

    public init(name: String, description: String?, manifestPath: String, workdir: String, stages: [PlannedStage], levels: [[String]]) {
        self.name = name
        self.description = description
        self.manifestPath = manifestPath
        self.workdir = workdir
        self.stages = stages
        self.levels = levels
        self.index = Self.index(stages)
    }

    private static func index(_ stages: [PlannedStage]) -> [String: Int] {
        Dictionary(stages.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The stage called `name`.
    public func stage(_ name: String) -> PlannedStage? {
        // `stages` is public and may have changed since the index was made.
        if let i = index[name], i < stages.count, stages[i].name == name { return stages[i] }
        return stages.first { $0.name == name }
    }

/// Stage names in topological order.
    public var order: [String] { stages.map(\.name) }

    private enum CodingKeys: String, CodingKey {
        case name, description, manifestPath, workdir, stages, levels
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name),
            description: try c.decodeIfPresent(String.self, forKey: .description),
            manifestPath: try c.decode(String.self, forKey: .manifestPath),
            workdir: try c.decode(String.self, forKey: .workdir),
            stages: try c.decode([PlannedStage].self, forKey: .stages),
            levels: try c.decode([[String]].self, forKey: .levels))
    }

    public static func == (a: Plan, b: Plan) -> Bool {
        a.name == b.name && a.description == b.description && a.manifestPath == b.manifestPath
            && a.workdir == b.workdir && a.stages == b.stages && a.levels == b.levels
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(description)
        hasher.combine(manifestPath)
        hasher.combine(workdir)
        hasher.combine(stages)
        hasher.combine(levels)
    }
}

public struct PlannedStage: Sendable, Hashable, Codable {
    public var name: String
    public var description: String?
    /// Stages that must end before this one starts (`needs:`), as written.
    public var needs: [String]
    /// Index into `Plan.levels`.
    public var level: Int
    /// Run only when the needed stages ended this way (`if:`).
    public var condition: StageCondition
    /// Wall-clock limit of each process of the stage (a map's workers and reducer each get
    /// it on their own); also in each `Policy.timeout`.
    public var timeout: Duration?
    public var retry: RetrySpec?
    /// What becomes of the stage's copy-on-write workspace of the workdir when the stage
    /// succeeds (`on_success`, else `defaults.on_success`, else commit) …
    public var onSuccess: Disposition = .commit
    /// … and when it fails, including timeouts and limit kills (`on_failure`, else
    /// `defaults.on_failure`, else abort).
    public var onFailure: Disposition = .abort
    public var work: Work
    /// What keys the stage in the cache and what the cache puts back (`inputs`, `outputs`,
    /// `cache`).
    public var cache = CachePlan()
    /// Names of variables the runner passes from its environment (`secrets:`); their
    /// values are never part of the plan or a record.
    public var secrets: [String] = []
    /// Absolute paths inside the workdir copied into the stage's run directory when it
    /// ends, whatever the outcome (`artifacts:`).
    public var artifacts: [String] = []

    /// Boxed (`indirect`): its processes hold whole policies, and `Plan.stages` stores its
    /// stages inline, so a plan of 100,000 stages would move them all on every growth.
    public indirect enum Work: Sendable, Hashable, Codable {
        /// One command.
        case command(PlannedProcess)
        /// Commands whose stdout feeds the next one's stdin through kernel pipes.
        case pipeline([PlannedProcess])
        /// One worker per item, then an optional reducer.
        case map(PlannedMap)
    }

    /// What every process of the stage sees besides `policy.env`: `SANDLOCK_STAGE` and
    /// `SANDLOCK_RUN_DIR` (the run directory the runner chose).
    public func environment(runDirectory: String) -> [String: String] {
        ["SANDLOCK_STAGE": name, "SANDLOCK_RUN_DIR": runDirectory]
    }

    /// Every process description of the stage (the map worker once, as a template).
    public var processes: [PlannedProcess] {
        switch work {
        case .command(let p): return [p]
        case .pipeline(let members): return members
        case .map(let m): return [m.worker] + (m.reduce.map { [$0] } ?? [])
        }
    }
}

extension PlannedStage {
    /// Decodes plans written before `onSuccess`/`onFailure` existed (a run directory's
    /// `run.json`) with the defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        needs = try c.decode([String].self, forKey: .needs)
        level = try c.decode(Int.self, forKey: .level)
        condition = try c.decode(StageCondition.self, forKey: .condition)
        timeout = try c.decodeIfPresent(Duration.self, forKey: .timeout)
        retry = try c.decodeIfPresent(RetrySpec.self, forKey: .retry)
        onSuccess = try c.decodeIfPresent(Disposition.self, forKey: .onSuccess) ?? .commit
        onFailure = try c.decodeIfPresent(Disposition.self, forKey: .onFailure) ?? .abort
        work = try c.decode(Work.self, forKey: .work)
        cache = try c.decodeIfPresent(CachePlan.self, forKey: .cache) ?? CachePlan()
        secrets = try c.decodeIfPresent([String].self, forKey: .secrets) ?? []
        artifacts = try c.decodeIfPresent([String].self, forKey: .artifacts) ?? []
    }
}

/// A stage's `inputs:`, `outputs:` and `cache:`, resolved: absolute paths and patterns.
public struct CachePlan: Sendable, Hashable, Codable {
    /// False with `cache: false`: the stage always runs (its key is still recorded, for
    /// `resume` and `--explain`).
    public var enabled = true
    /// Paths (a directory stands for every file under it) and glob patterns whose contents
    /// are part of the key of every process of the stage.
    public var inputs: [String] = []
    /// Paths inside the workdir the cache stores when the stage succeeds and puts back on a
    /// hit (the reducer's included).
    public var outputs: [String] = []
    /// A map stage's reducer: inputs of its key only.
    public var reduceInputs: [String] = []

    public init(enabled: Bool = true, inputs: [String] = [], outputs: [String] = [], reduceInputs: [String] = []) {
        self.enabled = enabled
        self.inputs = inputs
        self.outputs = outputs
        self.reduceInputs = reduceInputs
    }
}

/// One process to start in a sandbox. `policy.env` holds the merged environment (manifest
/// `env`, then the policy's `environment.env`, then the stage's and the member's `env`);
/// the runner adds `PlannedStage.environment(runDirectory:)` and, for map workers,
/// `PlannedMap.environment(forShard:)`.
public struct PlannedProcess: Sendable, Hashable, Codable {
    public var argv: [String]
    public var policy: Policy
    /// Where the policy came from, for people: `writer`, `inline extends base`, `none`.
    public var policySource: String

    public init(argv: [String], policy: Policy, policySource: String) {
        self.argv = argv
        self.policy = policy
        self.policySource = policySource
    }
}

public struct PlannedMap: Sendable, Hashable, Codable {
    /// The items, stored once for the stage.
    public var source: ItemSource
    /// Workers running at the same time; `nil` = as many as the runner allows.
    public var maxParallel: Int?
    /// Worker failures tolerated before the stage fails; `nil` = none.
    public var allowFailures: FailureAllowance?
    /// The worker; the same for every item except the environment.
    public var worker: PlannedProcess
    /// Gets the workers' stdout, in item order, on stdin.
    public var reduce: PlannedProcess?

    /// The item of worker `shard` (0-based), or `nil` past the end or while the items are
    /// decided at run time (then plan again with `Planner(inputsAreFinal: true)`).
    public func item(at shard: Int) -> String? {
        func pick(_ list: [String]?) -> String? {
            guard let list, shard >= 0, shard < list.count else { return nil }
            return list[shard]
        }
        switch source {
        case .items(let items): return pick(items)
        case .shards(let n): return shard >= 0 && shard < n ? String(shard) : nil
        case .glob(_, let matches): return pick(matches)
        case .lines(_, let lines): return pick(lines)
        case .matrix(let combinations): return shard >= 0 && shard < combinations.count ? combinations[shard].json : nil
        }
    }

    /// What worker `shard` sees besides `policy.env`, as in sandlock's fan-out:
    /// `SANDLOCK_ITEM`, `SANDLOCK_SHARD`, `SANDLOCK_SHARDS` and `CLONE_ID` (= shard); a
    /// matrix shard also `SANDLOCK_MATRIX_<KEY>` for each key of its combination.
    public func environment(forShard shard: Int) -> [String: String]? {
        guard let count = source.count, let item = item(at: shard) else { return nil }
        var environment = [
            "SANDLOCK_ITEM": item, "SANDLOCK_SHARD": String(shard),
            "SANDLOCK_SHARDS": String(count), "CLONE_ID": String(shard),
        ]
        if case .matrix(let combinations) = source {
            environment.merge(combinations[shard].environment) { fanOut, _ in fanOut }
        }
        return environment
    }
}

/// Where a map stage's items come from.
public enum ItemSource: Sendable, Hashable, Codable {
    /// Listed in the manifest.
    case items([String])
    /// `SANDLOCK_ITEM` = `SANDLOCK_SHARD` = 0 ..< n.
    case shards(Int)
    /// Absolute pattern; `matches` (absolute paths, sorted) is `nil` while the matches are
    /// decided at run time.
    case glob(pattern: String, matches: [String]?)
    /// Absolute path of a file with one item per non-empty line; `nil` until it exists.
    case lines(file: String, items: [String]?)
    /// The combinations of a `matrix:`; `SANDLOCK_ITEM` is each one as JSON.
    case matrix([MatrixCombination])

    /// The number of workers, or `nil` when it is decided at run time.
    public var count: Int? {
        switch self {
        case .items(let items): return items.count
        case .shards(let n): return n
        case .glob(_, let m): return m?.count
        case .lines(_, let l): return l?.count
        case .matrix(let combinations): return combinations.count
        }
    }
}
