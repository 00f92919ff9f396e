import FoundationEssentials
import SandlockCore

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
    /// Destinations (`ip:port`) the network allowlist refused, with counts; nil when none.
    public var deniedConnections: [String: Int]?

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
        case deniedConnections = "denied_connections"
    }
}
