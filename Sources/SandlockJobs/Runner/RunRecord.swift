import FoundationEssentials

/// `run.json`: the run as a whole.
public struct RunRecord: Sendable, Codable, Hashable {
    public enum Status: String, Sendable, Codable, Hashable {
        case running, succeeded, failed, interrupted
    }

    public var id: String
    public var name: String
    public var manifest: String
    public var manifestSHA256: String
    public var workdir: String
    public var runDirectory: String
    public var commandLine: [String]
    public var landlockABI: Int
    public var jobs: Int
    public var keepGoing: Bool
    /// Stages the run was asked to run (`--only`, `--from`); nil = all.
    public var selected: [String]?
    public var status: Status
    public var started: Date
    public var ended: Date?
    public var durationSeconds: Double?
    /// Stage name → status, in plan order, updated as stages end.
    public var stages: [StageEntry]
    public var plan: Plan
    /// `--dry-run`: every stage's writes were copy-on-write and nothing was committed
    /// (nil in records written before dry runs existed).
    public var dryRun: Bool?
    /// `resume`: the earlier attempts of this run, oldest first (nil for a run never resumed).
    public var earlierAttempts: [Attempt]?

    public struct Attempt: Sendable, Codable, Hashable {
        public var started: Date
        public var ended: Date?
        public var status: Status
        public var commandLine: [String]

        enum CodingKeys: String, CodingKey {
            case started, ended, status, commandLine = "command_line"
        }
    }
    /// `slurm` for a run submitted with `--executor slurm` (its jobs in `slurm/jobs.json`);
    /// nil for a local run.
    public var executor: String?

    public struct StageEntry: Sendable, Codable, Hashable {
        public var name: String
        public var status: StageStatus?
    }

    enum CodingKeys: String, CodingKey {
        case id, name, manifest, manifestSHA256 = "manifest_sha256", workdir, runDirectory = "run_directory"
        case commandLine = "command_line", landlockABI = "landlock_abi", jobs, keepGoing = "keep_going"
        case selected, status, started, ended, durationSeconds = "duration_seconds", stages, plan
        case dryRun = "dry_run", earlierAttempts = "earlier_attempts"
        case executor
    }
}

extension RunRecord {
    /// The status of a run that is over, from its stages' statuses (name → status; stages
    /// without one are not counted). `failed` when a stage failed, was cancelled or ended in
    /// conflict, or did not run because of such a stage; else `succeeded` (skipped stages
    /// whose condition did not hold, and those left out by `--only`/`--from`, count as done).
    ///
    /// When the run ends this is the plain rule (a stage kept from running by a failure has
    /// that failure upstream). It matters when a kept stage is settled later: a stage in
    /// `conflict` whose changes are then committed (or discarded) counts as the success it
    /// was, so the run becomes `succeeded` — unless a stage that needs it was skipped
    /// because of the conflict: that stage never ran, and the run stays `failed`. A selected
    /// `if: success` stage was skipped because of a failure when a need of it failed (or
    /// did not run because of one), or when every need has succeeded since (so one was in
    /// conflict then); a need skipped by its own condition explains the skip.
    public func overallStatus(_ statuses: [String: StageStatus]) -> Status {
        let selected = self.selected.map(Set.init)
        func isSelected(_ name: String) -> Bool { selected?.contains(name) ?? true }
        var blocked: [String: Bool] = [:]
        func isBlocked(_ name: String) -> Bool {
            if let known = blocked[name] { return known }
            blocked[name] = false  // needs form a DAG; this only guards against a damaged record
            guard statuses[name] == .skipped, isSelected(name), let stage = plan.stage(name),
                  stage.condition == .success, !stage.needs.isEmpty else { return false }
            var failedNeed = false, explained = false
            for need in stage.needs {
                switch statuses[need] {
                case .failed, .cancelled, .conflict: failedNeed = true
                case .skipped where isBlocked(need): failedNeed = true
                case .skipped where isSelected(need): explained = true
                case .succeeded, .skipped, nil: break
                }
            }
            let result = failedNeed || !explained
            blocked[name] = result
            return result
        }
        for (name, status) in statuses {
            if status == .failed || status == .cancelled || status == .conflict || isBlocked(name) { return .failed }
        }
        return .succeeded
    }
}
