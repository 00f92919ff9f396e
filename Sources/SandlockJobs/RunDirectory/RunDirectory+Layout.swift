/// Every name in a run directory and its runs root: nothing else spells them.
extension RunDirectory {
    // MARK: The workdir's runs

    /// `<workdir>/.sandlock-jobs`: the runner's own files in the workdir (writes through a
    /// workspace there are dropped).
    public static func stateDirectory(workdir: String) -> String { workdir + "/.sandlock-jobs" }

    /// `<workdir>/.sandlock-jobs/runs`.
    public static func runsRoot(workdir: String) -> String { stateDirectory(workdir: workdir) + "/runs" }

    /// The name of the symlink to the newest run in a runs root, and the run name that means it.
    public static let latestName = "latest"

    static func latestLink(root: String) -> String { root + "/" + latestName }

    // MARK: Records

    /// `run.json`.
    public var runRecordPath: String { path + "/run.json" }

    /// `runner.lock`: flock'ed by the runner while it lives.
    var runnerLockPath: String { path + "/runner.lock" }

    /// `stages/<stage>`.
    public func stageDirectory(_ stage: String) -> String { path + "/stages/" + stage }
    /// `artifacts:` of a stage, at their paths relative to the workdir.
    public func artifactsDirectory(_ stage: String) -> String { stageDirectory(stage) + "/artifacts" }

    /// `stages/<stage>/result.json`.
    public func stageRecordPath(_ stage: String) -> String { stageDirectory(stage) + "/result.json" }

    /// `stages/<stage>/shards.jsonl`.
    public func shardRecordsPath(_ stage: String) -> String { stageDirectory(stage) + "/shards.jsonl" }

    /// `stages/<stage>/shards`, which holds a directory per shard.
    public func shardsDirectory(_ stage: String) -> String { stageDirectory(stage) + "/" + Self.shardsName }

    /// The name of that directory.
    static let shardsName = "shards"

    /// `stages/<stage>/shards/<n>`.
    public func shardDirectory(_ stage: String, _ shard: Int) -> String { shardsDirectory(stage) + "/\(shard)" }

    /// `stages/<stage>/members/<i>`.
    public func memberDirectory(_ stage: String, _ member: Int) -> String { stageDirectory(stage) + "/members/\(member)" }

    /// A copy-on-write stage's change set: `changes.txt` (A/M/D/R lines), `changes.json`, `changes.diff`.
    public func changesFile(_ stage: String, _ format: ChangesFormat) -> String {
        stageDirectory(stage) + "/changes." + format.rawValue
    }

    public enum ChangesFormat: String, Sendable {
        case summary = "txt", json, diff
    }

    // MARK: Logs

    public enum LogStream: String, Sendable, CaseIterable {
        case stdout, stderr
    }

    /// Whose logs: the stage's own (a command, a pipeline's last member's stdout, a map
    /// stage's reducer), a pipeline member's, a map worker's.
    public enum LogOwner: Sendable, Hashable {
        case stage
        case member(Int)
        case shard(Int)
    }

    /// The directory holding an owner's logs.
    public func logDirectory(of stage: String, _ owner: LogOwner = .stage) -> String {
        switch owner {
        case .stage: stageDirectory(stage)
        case .member(let i): memberDirectory(stage, i)
        case .shard(let n): shardDirectory(stage, n)
        }
    }

    /// `…/stdout.log`, `…/stderr.log`; with `attempt`, the log a retried attempt left:
    /// `…/stderr.attempt-<n>.log`.
    public func log(_ stream: LogStream, of stage: String, _ owner: LogOwner = .stage, attempt: Int? = nil) -> String {
        logDirectory(of: stage, owner) + "/" + stream.rawValue + (attempt.map { ".attempt-\($0)" } ?? "") + ".log"
    }

    /// Path relative to the run directory (as records name logs and change files).
    public func relative(_ absolute: String) -> String {
        absolute.hasPrefix(path + "/") ? String(absolute.dropFirst(path.count + 1)) : absolute
    }
}

// MARK: Slurm

extension RunDirectory {
    /// `slurm/`: what a run on Slurm submitted (`--executor slurm`).
    public var slurmDirectory: String { path + "/slurm" }

    /// `slurm/<stage>.sbatch` (a command or pipeline stage, a map stage's workers) and
    /// `slurm/<stage>.reduce.sbatch` (a map stage's reducer and record).
    public func slurmScript(_ stage: String, _ role: SlurmJob.Role) -> String {
        slurmDirectory + "/" + stage + (role == .reduce ? ".reduce" : "") + ".sbatch"
    }

    /// `slurm/<stage>[.reduce]-<job>[_<task>].out`: what `sandlock-jobs exec` itself printed
    /// in the job (the stage's own logs are where a local run puts them), as an sbatch
    /// `--output` pattern.
    public func slurmOutputPattern(_ stage: String, _ role: SlurmJob.Role) -> String {
        slurmDirectory + "/" + stage + (role == .reduce ? ".reduce" : "") + (role == .shards ? "-%A_%a" : "-%j") + ".out"
    }

    /// `slurm/jobs.json`: the run's job ids, for `status`, `cancel` and a waiting `run`.
    public var slurmJobsPath: String { slurmDirectory + "/jobs.json" }
}
