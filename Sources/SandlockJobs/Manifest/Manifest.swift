import SandlockCore

/// A value and where it was written, for diagnostics that come after decoding (unknown
/// stage in `needs`, paths that escape the workdir, cycles).
public struct Located<Value: Sendable>: Sendable {
    public var value: Value
    public var mark: SourceMark
    public var length: Int

    public init(_ value: Value, at node: YAMLNode) {
        self.value = value
        self.mark = node.start
        self.length = node.underlineLength
    }

    public init(_ value: Value, mark: SourceMark, length: Int) {
        self.value = value
        self.mark = mark
        self.length = length
    }

    func error(_ message: String) -> Diagnostic { Diagnostic(.error, message, at: mark, length: length) }
    func warning(_ message: String) -> Diagnostic { Diagnostic(.warning, message, at: mark, length: length) }
}

extension Located: Equatable where Value: Equatable {}
extension Located: Hashable where Value: Hashable {}

/// A manifest as written (version 1), decoded from YAML but not yet resolved: policies are
/// still named and partial, paths still relative. `Planner` turns it into a `Plan`.
public struct Manifest: Sendable {
    public var path: String
    public var version: Int = 1
    public var name: String
    public var description: String?
    /// `workdir:` as written, or `nil` for the manifest's folder.
    public var workdir: Located<String>?
    public var env: [(key: String, value: String)] = []
    /// `shell:` at the top: how string commands run unless `defaults` or a stage says otherwise.
    public var shell: Shell?
    public var policies: [(name: Located<String>, policy: PolicySpec)] = []
    public var defaults = Defaults()
    public var stages: [StageSpec] = []

    public struct Defaults: Sendable {
        public var policy: PolicyReference?
        public var timeout: Duration?
        public var retry: RetrySpec?
        /// `on_success` / `on_failure`: what becomes of a stage's copy-on-write workspace.
        public var onSuccess: Disposition?
        public var onFailure: Disposition?
        public var shell: Shell?
        /// `cache: false`: no stage is reused from the cache unless it says `cache: true`.
        public var cache: Bool?
    }
}

/// `policy:` of a stage, member or reducer: the name of a policy in `policies:`, or a
/// policy written in place.
public enum PolicyReference: Sendable {
    case named(Located<String>)
    /// Boxed: a policy is hundreds of bytes, and every stage and process has a reference.
    indirect case inline(PolicySpec)
}

/// A policy as written: the values of the fields it sets (on `Policy()`'s defaults for the
/// others), and where each was written, so `extends` can tell "not set" from "set" and
/// diagnostics can point at the key.
public struct PolicySpec: Sendable {
    public var mark: SourceMark
    public var extends: [Located<String>] = []
    public var description: String?
    /// The fields written; the others hold `Policy()`'s values.
    public var values = Policy()
    /// The value node of each field written, by `PolicyField.name`.
    public var written: [String: Located<ManifestKey>] = [:]
    /// The items of written lists of strings (paths, endpoints, syscall names), located.
    public var items: [String: [Located<String>]] = [:]

    public init(mark: SourceMark) { self.mark = mark }

    /// Whether the policy sets `field`.
    public func sets(_ field: PolicyField) -> Bool { written[field.name] != nil }
}

/// The command of a stage, member, worker or reducer: a string runs under the stage's
/// `Shell`, a list is the argv itself (no shell).
public enum CommandSpec: Sendable, Hashable {
    case shell(String)
    case argv([String])

    public func argv(_ shell: Shell) -> [String] {
        switch self {
        case .shell(let s): return shell.argv(s)
        case .argv(let a): return a
        }
    }
}

/// A process inside a stage: a pipeline member or a reducer.
public struct ProcessSpec: Sendable {
    public var mark: SourceMark
    public var run: CommandSpec
    public var policy: PolicyReference?
    public var env: [(key: String, value: String)] = []
    public var cwd: Located<String>?
    /// `inputs:` / `outputs:` of a reducer (its own key) or a pipeline member (the stage's).
    public var inputs: [Located<String>] = []
    public var outputs: [Located<String>] = []
}

public struct StageSpec: Sendable {
    public var name: Located<String>
    public var description: String?
    public var needs: [Located<String>] = []
    public var run: CommandSpec?
    public var pipeline: [ProcessSpec]?
    public var map: MapSpec?
    public var reduce: ProcessSpec?
    public var policy: PolicyReference?
    public var env: [(key: String, value: String)] = []
    public var cwd: Located<String>?
    /// `shell:` of the stage (its members, workers and reducer); `nil` takes `defaults`, then the top.
    public var shell: Shell?
    public var timeout: Duration?
    public var retry: RetrySpec?
    public var condition: StageCondition = .success
    public var allowFailures: FailureAllowance?
    /// `on_success` / `on_failure` as written (located at the key); `nil` takes `defaults`.
    public var onSuccess: Located<Disposition>?
    public var onFailure: Located<Disposition>?
    /// `inputs:` (paths and globs whose contents key the stage) and `outputs:` (paths the
    /// cache stores and puts back), relative to the workdir; `cache:` (nil takes `defaults`).
    public var inputs: [Located<String>] = []
    public var outputs: [Located<String>] = []
    public var cache: Bool?
    /// `secrets:` names of variables passed from the runner's environment, never recorded.
    public var secrets: [Located<String>] = []
    /// `artifacts:` paths in the workdir copied into the stage's run directory at its end.
    public var artifacts: [Located<String>] = []
}

public struct MapSpec: Sendable {
    public var mark: SourceMark
    public var over: ItemSourceSpec
    public var maxParallel: Int?
}

public enum ItemSourceSpec: Sendable {
    case items([String])
    case shards(Int)
    case glob(Located<String>)
    case lines(Located<String>)
    /// Combinations of `matrix:` (expanded when decoded).
    case matrix([MatrixCombination])
}

/// When a stage runs, given how the stages it needs ended (`if:`).
public enum StageCondition: String, Sendable, Hashable, Codable {
    /// All needed stages succeeded (the default).
    case success
    /// At least one needed stage failed.
    case failure
    /// Whatever happened before.
    case always
}

/// How many map workers may fail while the stage still succeeds (`allow_failures`).
public enum FailureAllowance: Sendable, Hashable, Codable {
    case count(Int)
    case percent(Double)

    /// Failures tolerated out of `total` workers.
    public func tolerated(of total: Int) -> Int {
        switch self {
        case .count(let n): return n
        case .percent(let p): return Int((Double(total) * p / 100).rounded(.down))
        }
    }
}

public struct RetrySpec: Sendable, Hashable, Codable {
    /// Extra attempts after the first.
    public var limit: Int
    /// Why a run may be retried; the default is any `failure`.
    public var on: [RetryReason]
    public var backoff: Backoff

    public init(limit: Int, on: [RetryReason] = [.failure], backoff: Backoff = Backoff()) {
        self.limit = limit
        self.on = on
        self.backoff = backoff
    }
}

/// Wait `delay` before the first retry, then multiply by `factor`, never above `max`.
public struct Backoff: Sendable, Hashable, Codable {
    public var delay: Duration = .zero
    public var factor: Double = 1
    public var max: Duration?

    public init(delay: Duration = .zero, factor: Double = 1, max: Duration? = nil) {
        self.delay = delay
        self.factor = factor
        self.max = max
    }

    /// The wait before retry number `attempt` (1 = first retry).
    public func delay(before attempt: Int) -> Duration {
        var d = delay
        if attempt > 1 { for _ in 1..<attempt { d = d * factor } }
        if let max, d > max { return max }
        return d
    }
}

/// How a stage ended that `retry.on` may name. `failure` stands for all of them.
public enum RetryReason: String, Sendable, Hashable, Codable {
    case failure, exit, signal, timeout
    case memoryLimit = "memory_limit"
    case processLimit = "process_limit"
    case spawnFailure = "spawn_failure"
}
