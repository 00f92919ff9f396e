import FoundationEssentials

/// One map worker: a line of `stages/<stage>/shards.jsonl`.
public struct ShardRecord: Sendable, Codable, Hashable {
    public var shard: Int
    public var item: String
    public var status: StageStatus
    /// Every attempt, the last one deciding; none when the shard was reused.
    public var attempts: [ProcessRecord]
    /// The shard's cache key.
    public var key: String?
    /// Reused: the run whose result this is (its logs are linked from the cache).
    public var cachedFrom: String?

    enum CodingKeys: String, CodingKey {
        case shard, item, status, attempts, key, cachedFrom = "cached_from"
    }
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
    /// Succeeded shards that did not run: reused from the cache, or kept by `resume`.
    public var cached: Int = 0

    enum CodingKeys: String, CodingKey {
        case total, succeeded, failed, notRun = "not_run", allowedFailures = "allowed_failures"
        case failedShards = "failed_shards", retries, cached
    }

    public init(total: Int, allowedFailures: Int) {
        self.total = total
        self.allowedFailures = allowedFailures
    }

    /// Decodes records written before `cached` existed.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        total = try c.decode(Int.self, forKey: .total)
        succeeded = try c.decode(Int.self, forKey: .succeeded)
        failed = try c.decode(Int.self, forKey: .failed)
        notRun = try c.decode(Int.self, forKey: .notRun)
        allowedFailures = try c.decode(Int.self, forKey: .allowedFailures)
        failedShards = try c.decode([Int].self, forKey: .failedShards)
        retries = try c.decode(Int.self, forKey: .retries)
        cached = try c.decodeIfPresent(Int.self, forKey: .cached) ?? 0
    }
}

/// Bounds that keep the runner's memory flat however many shards a stage has.
enum RunnerLimits {
    /// Failed shards named in a stage record and kept for the summary.
    static let failedShardsListed = 20
}
