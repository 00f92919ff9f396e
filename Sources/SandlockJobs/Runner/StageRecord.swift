import FoundationEssentials
import SandlockCore

/// How a stage, shard or process ended, as recorded in `result.json`.
public enum StageStatus: String, Sendable, Codable, Hashable, CaseIterable {
    case succeeded, failed, skipped, cancelled
    /// The stage's processes ended, but its changes could not be applied: the real tree
    /// changed under it, or a parallel stage (or another process of the stage) changed the
    /// same path. Its workspace is kept; stages that need it do not run.
    case conflict
}

/// One attempt of a command or pipeline stage (map stages retry per shard).
public struct AttemptRecord: Sendable, Codable, Hashable {
    public var attempt: Int
    /// The command's run, or for a pipeline the member that decided the attempt.
    public var outcome: ProcessRecord
    /// Pipelines: every member's run, in order.
    public var members: [ProcessRecord]?
    /// Pipelines: index of the member that failed the attempt.
    public var failedMember: Int?

    enum CodingKeys: String, CodingKey {
        case attempt, outcome, members, failedMember = "failed_member"
    }
}

/// A pipeline member or a reducer as the stage record lists it.
public struct ProcessEntry: Sendable, Codable, Hashable {
    public var argv: [String]
    /// The effective policy (runner variables included).
    public var policy: Policy
    /// What of the policy the kernel enforced (nil when the sandbox never started).
    public var enforcement: Enforcement?
}

/// `stages/<stage>/result.json`: how a stage ended and what it cost.
public struct StageRecord: Sendable, Codable, Hashable {
    public var stage: String
    /// `command`, `pipeline` or `map`.
    public var kind: String
    public var status: StageStatus
    /// Why the stage ended (the deciding process's reason); nil for skipped stages and
    /// stages cancelled before they started.
    public var reason: EndReason?
    public var exitCode: Int32?
    public var signal: Int32?
    /// Why it was skipped or cancelled, why the sandbox could not start, which shards failed.
    public var message: String?
    public var started: Date?
    public var ended: Date?
    public var durationSeconds: Double?
    /// CPU time of every process of the stage (all attempts, shards and members).
    public var userCPUSeconds: Double = 0
    public var systemCPUSeconds: Double = 0
    /// Largest resident set of any process of the stage.
    public var peakMemoryBytes: UInt64 = 0
    /// Destinations the network allowlist refused to any process of the stage, with counts.
    public var deniedConnections: [String: Int]?
    /// Number of attempts (command, pipeline) or of the reducer.
    public var attemptCount: Int = 0
    public var attempts: [AttemptRecord] = []
    /// The command's (or map worker's) argv and effective policy, and what the kernel enforced.
    public var process: ProcessEntry?
    /// Pipelines: each member.
    public var members: [ProcessEntry]?
    /// Map stages: shard counters, and the reducer's attempts.
    public var shards: ShardSummary?
    public var reduce: ProcessEntry?
    public var reduceAttempts: [AttemptRecord]?
    /// Logs, relative to the run directory.
    public var stdoutLog: String?
    public var stderrLog: String?
    /// What the stage changed in its copy-on-write trees and what became of it; nil for a
    /// stage that had none (no `filesystem.write` inside the workdir, and no dry run).
    public var changes: StageChanges?
    /// The stage's cache key, and whether it ran, was reused from the cache or kept by
    /// `resume`, and why (nil in records written before the cache existed).
    public var cache: CacheNote?

    public init(stage: String, kind: String, status: StageStatus) {
        self.stage = stage
        self.kind = kind
        self.status = status
    }

    enum CodingKeys: String, CodingKey {
        case stage, kind, status, reason, exitCode = "exit_code", signal, message, started, ended
        case durationSeconds = "duration_seconds", userCPUSeconds = "user_cpu_seconds"
        case systemCPUSeconds = "system_cpu_seconds", peakMemoryBytes = "peak_memory_bytes"
        case attemptCount = "attempt_count", attempts, process, members, shards, reduce
        case reduceAttempts = "reduce_attempts", stdoutLog = "stdout_log", stderrLog = "stderr_log"
        case deniedConnections = "denied_connections", changes, cache
    }

    /// Adds a process run's cost to the stage's.
    mutating func account(_ p: ProcessRecord) {
        userCPUSeconds += p.userCPUSeconds
        systemCPUSeconds += p.systemCPUSeconds
        peakMemoryBytes = max(peakMemoryBytes, p.peakMemoryBytes)
        addDenied(p.deniedConnections)
    }

    mutating func addDenied(_ denied: [String: Int]?) {
        guard let denied, !denied.isEmpty else { return }
        deniedConnections = (deniedConnections ?? [:]).merging(denied, uniquingKeysWith: +)
    }

    /// Takes reason, exit code and signal from the process that decided the stage.
    mutating func decide(by p: ProcessRecord) {
        reason = p.reason
        exitCode = p.exitCode
        signal = p.signal
        if p.reason == .spawnFailed { message = p.message }
    }

    /// `exit 3`, `timeout`, `2 of 10 shards failed (1 allowed)`: one line for summaries.
    public var reasonText: String {
        if let message, status == .skipped || reason == nil { return message }
        if kind == "map", let s = shards, s.failed > s.allowedFailures {
            return message ?? "\(s.failed) of \(s.total) shards failed"
        }
        let p = ProcessRecord(reason: reason ?? .exited, exitCode: exitCode, signal: signal, message: message,
                              started: .distantPast, ended: .distantPast, durationSeconds: 0, userCPUSeconds: 0,
                              systemCPUSeconds: 0, peakMemoryBytes: 0, leftoverProcessesKilled: 0)
        var text = p.reasonText
        if reason != .spawnFailed, let message { text += " — " + message }
        return text
    }
}
