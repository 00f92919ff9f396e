import FoundationEssentials
import SandlockCore

/// How a stage, shard or process ended, as recorded in `result.json`.
public enum StageStatus: String, Sendable, Codable, Hashable {
    case succeeded, failed, skipped, cancelled
}

/// Why a process (or the stage it decided) ended: the engine's `RunResult.Reason`, plus
/// the runner's own `spawn_failed` (the sandbox could not start, with a message) and
/// `killed` (the run was interrupted).
public enum EndReason: String, Sendable, Codable, Hashable {
    case exited, signaled, timeout
    case memoryLimit = "memory_limit"
    case processLimit = "process_limit"
    case spawnFailed = "spawn_failed"
    case killed

    init(_ reason: RunResult.Reason) {
        switch reason {
        case .exited: self = .exited
        case .signaled: self = .signaled
        case .timeout: self = .timeout
        case .memoryLimit: self = .memoryLimit
        case .killed: self = .killed
        }
    }

    /// Whether `retry.on` lets an attempt that ended this way (and failed) run again.
    func isRetried(by triggers: [RetryReason]) -> Bool {
        let own: RetryReason? = switch self {
        case .exited: .exit
        case .signaled: .signal
        case .timeout: .timeout
        case .memoryLimit: .memoryLimit
        case .processLimit: .processLimit
        case .spawnFailed: .spawnFailure
        case .killed: nil  // interrupted: never retried
        }
        guard let own else { return false }
        return triggers.contains(own) || triggers.contains(.failure)
    }
}

/// One sandboxed process run: one attempt of a command, one pipeline member, one shard
/// attempt, one reducer attempt.
public struct ProcessRecord: Sendable, Codable, Hashable {
    public var reason: EndReason
    public var exitCode: Int32?
    public var signal: Int32?
    /// Why the sandbox could not start (spawn_failed), or other detail.
    public var message: String?
    public var started: Date
    public var ended: Date
    public var durationSeconds: Double
    public var userCPUSeconds: Double
    public var systemCPUSeconds: Double
    /// Largest resident set of any process of the sandbox, in bytes.
    public var peakMemoryBytes: UInt64
    /// Most memory charged to the sandbox (when `max_memory` is set).
    public var peakSandboxMemoryBytes: UInt64?
    public var peakProcesses: Int?
    public var leftoverProcessesKilled: Int

    public var succeeded: Bool { reason == .exited && exitCode == 0 }

    /// `exit 3`, `signal 9`, `timeout`, `spawn failed: …`: for summaries.
    public var reasonText: String {
        switch reason {
        case .exited: return "exit \(exitCode ?? -1)"
        case .signaled: return "signal \(signal.map(Self.signalName) ?? "?")"
        case .timeout: return "timeout"
        case .memoryLimit: return "memory limit" + (peakSandboxMemoryBytes.map { " (peak \($0 >> 20) MiB)" } ?? "")
        case .processLimit: return "process limit"
        case .spawnFailed: return "spawn failed: " + (message ?? "?")
        case .killed: return "killed (run interrupted)"
        }
    }

    static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS",
                                      8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM"]
        return names[signal].map { "\(signal) (\($0))" } ?? String(signal)
    }

    enum CodingKeys: String, CodingKey {
        case reason, exitCode = "exit_code", signal, message, started, ended
        case durationSeconds = "duration_seconds", userCPUSeconds = "user_cpu_seconds"
        case systemCPUSeconds = "system_cpu_seconds", peakMemoryBytes = "peak_memory_bytes"
        case peakSandboxMemoryBytes = "peak_sandbox_memory_bytes", peakProcesses = "peak_processes"
        case leftoverProcessesKilled = "leftover_processes_killed"
    }
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
    }

    /// Adds a process run's cost to the stage's.
    mutating func account(_ p: ProcessRecord) {
        userCPUSeconds += p.userCPUSeconds
        systemCPUSeconds += p.systemCPUSeconds
        peakMemoryBytes = max(peakMemoryBytes, p.peakMemoryBytes)
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

    public struct StageEntry: Sendable, Codable, Hashable {
        public var name: String
        public var status: StageStatus?
    }

    enum CodingKeys: String, CodingKey {
        case id, name, manifest, manifestSHA256 = "manifest_sha256", workdir, runDirectory = "run_directory"
        case commandLine = "command_line", landlockABI = "landlock_abi", jobs, keepGoing = "keep_going"
        case selected, status, started, ended, durationSeconds = "duration_seconds", stages, plan
    }
}

/// Bounds that keep the runner's memory flat however many shards a stage has.
enum RunnerLimits {
    /// Failed shards named in a stage record and kept for the summary.
    static let failedShardsListed = 20
}

/// `stages/<stage>/shards/<n>/result.json`: one map worker.
public struct ShardRecord: Sendable, Codable, Hashable {
    public var shard: Int
    public var item: String
    public var status: StageStatus
    /// Every attempt, the last one deciding.
    public var attempts: [ProcessRecord]
}
