import SandlockCore

/// How `Runner` runs a plan (the flags of `sandlock-jobs run`).
public struct RunOptions: Sendable {
    /// Sandboxes running at once: stages, pipelines (one each), shards and reducers.
    public var jobs: Int
    /// Run every stage not downstream of a failure instead of stopping at the first one.
    public var keepGoing: Bool
    /// Run only these stages and the stages they need (`--only`).
    public var only: [String]
    /// Run this stage and every stage downstream of it (`--from`); the others are assumed done.
    public var from: String?
    /// Run directory to use instead of a new one under `<workdir>/.sandlock-jobs/runs/`.
    public var runDirectory: String?
    /// The command line, for the run record.
    public var commandLine: [String]
    /// Commit nothing: every stage's writes (inside the workdir or not) are copy-on-write,
    /// stages see what the stages they need changed through stacked layers, and every
    /// stage's change set is recorded (`--dry-run`).
    public var dryRun: Bool
    /// Where copy-on-write workspaces live (`--fs-storage`; default: the engine's,
    /// `Workspace.defaultStorage`). Must not be inside a tree the stages write.
    public var workspaceStorage: String?
    /// Lines (old plus new) of one file above which `changes.diff` says "N lines changed"
    /// instead of its hunks (`--diff-limit`).
    public var diffLineLimit = Workspace.defaultDiffLineLimit
    /// `--no-cache`, `--cache-dir`, `resume`.
    public var cache: CacheOptions
    /// The values of the stages' `secrets:`, by name (`Secrets.values`): passed to the
    /// processes of the stages that list them, masked in their run directories.
    public var secrets: [String: String] = [:]

    public init(jobs: Int, keepGoing: Bool = false, only: [String] = [], from: String? = nil,
                runDirectory: String? = nil, commandLine: [String] = [], dryRun: Bool = false,
                workspaceStorage: String? = nil, cache: CacheOptions = CacheOptions()) {
        self.jobs = max(1, jobs)
        self.keepGoing = keepGoing
        self.only = only
        self.from = from
        self.runDirectory = runDirectory
        self.commandLine = commandLine
        self.dryRun = dryRun
        self.workspaceStorage = workspaceStorage
        self.cache = cache
    }
}

/// How a run uses the cache (see `docs/manifest.md`, "Incremental runs").
public struct CacheOptions: Sendable {
    /// False with `--no-cache`: every stage runs; what succeeds is still stored.
    public var reuse: Bool
    /// The store (`--cache-dir`); nil = `<workdir>/.sandlock-jobs/cache`.
    public var directory: String?
    /// `sandlock-jobs resume`: the run directory is an earlier run's; stages and shards that
    /// succeeded there under the same key are kept, the rest run.
    public var resume: Bool
    /// `--refresh STAGE`: these stages and every stage downstream of them run (and are stored).
    public var refresh: [String]

    public init(reuse: Bool = true, directory: String? = nil, resume: Bool = false, refresh: [String] = []) {
        self.reuse = reuse
        self.directory = directory
        self.resume = resume
        self.refresh = refresh
    }
}

/// What the runner reports while it works, for progress displays. Delivered from any
/// thread; shard events come at the rate shards end.
public enum RunEvent: Sendable {
    case runStarted(RunRecord)
    /// `shards` is the number of workers of a map stage.
    case stageStarted(stage: String, kind: String, shards: Int?)
    /// A process of the stage failed and will run again after `delay`.
    case retrying(stage: String, shard: Int?, attempt: Int, reason: String, delay: Duration)
    case shardEnded(stage: String, shard: Int, succeeded: Bool, reason: String, done: Int, failed: Int, total: Int)
    case stageEnded(StageRecord)
    case runEnded(RunRecord)
    /// Something the user should know that does not stop the run (a record that could not
    /// be written).
    case warning(String)
}
