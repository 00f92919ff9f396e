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

    public struct StageEntry: Sendable, Codable, Hashable {
        public var name: String
        public var status: StageStatus?
    }

    enum CodingKeys: String, CodingKey {
        case id, name, manifest, manifestSHA256 = "manifest_sha256", workdir, runDirectory = "run_directory"
        case commandLine = "command_line", landlockABI = "landlock_abi", jobs, keepGoing = "keep_going"
        case selected, status, started, ended, durationSeconds = "duration_seconds", stages, plan
        case dryRun = "dry_run"
    }
}
