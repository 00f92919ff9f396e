import FoundationEssentials

/// One map worker: a line of `stages/<stage>/shards.jsonl`.
public struct ShardRecord: Sendable, Codable, Hashable {
    public var shard: Int
    public var item: String
    public var status: StageStatus
    /// Every attempt, the last one deciding.
    public var attempts: [ProcessRecord]
}

/// Fan-out counters of a map stage.
public struct ShardSummary: Sendable, Codable, Hashable {
    public var total: Int
    public var succeeded: Int = 0
    public var failed: Int = 0
    /// Shards that never started (fail-fast, interrupt).
    public var notRun: Int = 0
    /// Failures the stage tolerates (`allow_failures`).
    public var allowedFailures: Int
    /// The first failed shards (at most `RunnerLimits.failedShardsListed`), in the order they ended.
    public var failedShards: [Int] = []
    /// Attempts beyond the first, over all shards.
    public var retries: Int = 0

    enum CodingKeys: String, CodingKey {
        case total, succeeded, failed, notRun = "not_run", allowedFailures = "allowed_failures"
        case failedShards = "failed_shards", retries
    }
}

/// Bounds that keep the runner's memory flat however many shards a stage has.
enum RunnerLimits {
    /// Failed shards named in a stage record and kept for the summary.
    static let failedShardsListed = 20
}
