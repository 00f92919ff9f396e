/// `result.json` → `cache`: the stage's key and what the cache did with it.
public struct CacheNote: Sendable, Codable, Hashable {
    public enum Outcome: String, Sendable, Codable, Hashable {
        /// The stage's processes ran (some shards may have been reused).
        case ran
        /// Nothing ran: the result, logs and outputs of an earlier run were put back.
        case cached
        /// `resume`: the stage had succeeded in this run directory under the same key.
        case kept
    }

    public var key: String
    public var outcome: Outcome
    /// Why it ran or was reused: `never ran`, `inputs changed: data/a.txt`, `policy changed:
    /// fs_readable`, `cached (run …)`, `--no-cache`, …
    public var explanation: String
    /// Cached: the run that produced the result.
    public var from: String?
    /// Why the result was not stored (a declared output missing, an output behind a symlink).
    public var notStored: String?

    public init(key: String, outcome: Outcome, explanation: String, from: String? = nil) {
        self.key = key
        self.outcome = outcome
        self.explanation = explanation
        self.from = from
    }

    enum CodingKeys: String, CodingKey {
        case key, outcome, explanation, from, notStored = "not_stored"
    }
}
