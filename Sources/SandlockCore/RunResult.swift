/// How a sandboxed command ended, and what it cost.
public struct RunResult: Sendable {
    /// Why the sandbox ended.
    public enum Reason: String, Sendable, Hashable, Codable {
        /// The command exited on its own (see `exitCode`).
        case exited
        /// The command was killed by a signal it did not ask for from us (see `signal`).
        case signaled
        /// The policy's timeout expired; the whole tree was killed.
        case timeout
        /// `kill()` or task cancellation ended it.
        case killed
        /// The sandbox's memory went over `max_memory`; the whole tree was killed.
        case memoryLimit = "memory_limit"
    }

    public var reason: Reason
    /// Exit code when `reason == .exited`.
    public var exitCode: Int32?
    /// Terminating signal when the command died of one.
    public var signal: Int32?
    public var wallTime: Duration
    /// CPU time of every process of the tree.
    public var userTime: Duration
    public var systemTime: Duration
    /// Largest resident set of any process of the tree, in bytes.
    public var peakMemory: UInt64
    /// Processes other than the command that were still running when it ended and were
    /// killed with it (background jobs, daemons).
    public var leftoverProcessesKilled: Int
    /// Captured output (empty unless `.capture` was asked for).
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    /// What of the policy the kernel enforced.
    public var enforcement: Enforcement
    /// Most processes alive at once (when `max_processes` was set).
    public var peakProcesses: Int?
    /// Most memory charged to the sandbox at once, in bytes (when `max_memory` was set).
    public var peakSandboxMemory: UInt64?
    /// Syscalls the supervisor handled (0 when the policy needed no supervisor).
    public var supervisorNotifications: Int
    /// Destinations (`ip:port`) the network allowlist refused, with counts. Only the
    /// supervisor sees these: with `:port` rules alone, Landlock refuses in the kernel.
    public var deniedConnections: [String: Int] = [:]
    /// HTTP requests the proxy refused (`GET host:port/path (rule)`), with counts: 403s of
    /// the ACL and 400s of requests it could not judge safely.
    public var deniedRequests: [String: Int] = [:]
    /// The copy-on-write workspace of a policy with `workdir`: its change set and whether it
    /// was committed, aborted or kept (nil without a workdir, or for an attached workspace).
    public var workspace: WorkspaceResult? = nil

    /// Exited with status 0.
    public var success: Bool { reason == .exited && exitCode == 0 }

    /// Exit status a CLI should report: the code, 128+N for signal N, 124 for a timeout.
    public var shellStatus: Int32 {
        switch reason {
        case .exited: exitCode ?? 1
        case .timeout: 124
        case .signaled, .killed, .memoryLimit: 128 + (signal ?? 9)
        }
    }

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// What part of a policy the kernel enforced for one sandbox.
public struct Enforcement: Sendable, Hashable, Codable {
    public struct Gap: Sendable, Hashable, Codable {
        public var feature: String
        public var reason: String
    }

    /// The running kernel's Landlock ABI.
    public var landlockABI: Int
    /// Enforced protections: Landlock protections by name, `seccomp`, `capabilities_dropped`.
    public var enforced: [String]
    /// What degraded mode left out, and why.
    public var notEnforced: [Gap]

    enum CodingKeys: String, CodingKey {
        case landlockABI = "landlock_abi", enforced, notEnforced = "not_enforced"
    }
}
