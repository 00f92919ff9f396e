#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// Runs commands confined by a `Policy`.
///
/// ```swift
/// var policy = Policy()
/// policy.fsReadable = ["/usr", "/lib", "/lib64", "/bin", "/etc"]
/// let result = try await Sandbox(policy: policy).run(["echo", "hello"])
/// ```
public struct Sandbox: Sendable {
    public var policy: Policy

    public init(policy: Policy) { self.policy = policy }

    /// Runs `argv` to completion and returns how it ended. Cancelling the task kills the
    /// sandbox's whole process tree.
    ///
    /// With a `workdir` in the policy, the command runs over a copy-on-write workspace; the
    /// result's `workspace` says what it changed and what became of it. Attached workspaces
    /// (`.attached([…])`, one OverlayFS mount each) stay the caller's to read and settle.
    public func run(_ argv: [String], io: StandardIO = .captured,
                    workspace: WorkspaceMode = .policy) async throws(SandboxError) -> RunResult {
        let process = try spawn(argv, io: io, workspace: workspace)
        return await withTaskCancellationHandler {
            await process.wait()
        } onCancel: {
            process.kill()
        }
    }

    /// Starts `argv` and returns a live handle once the command has exec'd (clone3 →
    /// init → Landlock → clone → seccomp → execve). Setup failures in the child are thrown
    /// with the step and errno.
    public func spawn(_ argv: [String], io: StandardIO = .captured,
                      workspace mode: WorkspaceMode = .policy) throws(SandboxError) -> SandboxProcess {
        guard let command = argv.first, !command.isEmpty else {
            throw .invalidPolicy("empty command")
        }
        try policy.validate()
        // HTTP rules open their hosts on the intercepted ports (as sandlock extends net_allow).
        let policy = policy.withHTTPNetAllow()
        let features = SupervisorFeatures(policy)
        let gaps = try Self.unsupportedFields(of: policy, features: features)
        let (workspaces, settlement) = try mode.resolve(policy: policy)
        // A workspace this call created goes away with any failure before the command runs.
        var started = false
        defer { if !started, let settlement { try? settlement.workspace.discard() } }
        let ruleset = try LandlockRuleset(policy: policy, extraReadWrite: io.interactive ? ["/dev/tty"] : [],
                                          overlayRoots: workspaces.map(\.workdir))
        let mounts = workspaces.isEmpty ? nil
            : try WorkspaceMounts(workspaces, cwd: policy.cwd, lateRules: ruleset.lateRules)
        let program = try SeccompProgram.compile(for: policy, features: features)
        let environment = Environment.resolve(for: policy)
        guard let executable = Environment.resolveExecutable(command, path: environment["PATH"]) else {
            throw .commandNotFound(command)
        }
        let processLimit = policy.maxProcesses.map { _ in ProcessLimit.mechanism(for: policy) }
        let dropCapabilities = !policy.keepCapabilities
            && (csl_has_effective_capabilities() != 0 || mounts?.userNamespace == true || processLimit == .userNamespace)

        var enforced = ruleset.enforced.map(\.rawValue) + ["seccomp"]
        if dropCapabilities { enforced.append("capabilities_dropped") }
        if !policy.fsDenied.isEmpty { enforced.append("fs_denied") }
        if mounts != nil { enforced.append("workdir") } // once, however many workspaces
        // `:port` rules alone are Landlock's, so net_allow may be enforced with no supervisor.
        if !policy.netAllow.isEmpty && !features.networkGate { enforced.append("net_allow") }
        enforced += features.policyFields
        if processLimit != nil && !features.processLimit { enforced.append("max_processes") } // by the kernel
        if policy.interceptsHTTP { enforced.append("http_allow") }
        let enforcement = Enforcement(
            landlockABI: Landlock.abi, enforced: enforced,
            notEnforced: ruleset.missing.map { .init(feature: "landlock_\($0.rawValue)", reason: $0.consequence) } + gaps)

        let registration = try policy.name.map { name throws(SandboxError) in
            try NameRegistration(name: name, policy: policy, command: argv)
        }
        var network = features.networkGate ? try NetworkAllowlist(policy.netAllow, deny: policy.netDeny) : nil
        let httpProxy = policy.interceptsHTTP ? try HTTPProxyProcess.start(policy: policy) : nil
        network?.proxyRoute = httpProxy?.route
        let plan = try SpawnPlan(policy: policy, io: io, supervised: program.notifyBytes != nil, mounts: mounts,
                                 processLimit: processLimit)
        let launch = try Launch.spawn(
            plan, policy: policy, executable: executable, argv: argv, environment: environment,
            ruleset: ruleset, program: program, dropCapabilities: dropCapabilities,
            scopedTreeKill: ruleset.enforced.contains(.signalScope), mounts: mounts,
            network: network, registration: registration)
        started = true
        registration?.started(pid: launch.pid)
        return SandboxProcess(session: launch.session, pid: launch.pid, enforcement: enforcement, interactive: io.interactive,
                              settlement: settlement, registration: registration, httpProxy: httpProxy)
    }

    /// Fields this build cannot enforce: an error, or with `allowDegraded` a recorded gap.
    static func unsupportedFields(of policy: Policy, features: SupervisorFeatures) throws(SandboxError) -> [Enforcement.Gap] {
        var gaps: [(String, String)] = []
        #if !arch(x86_64)
        if policy.timeStart != nil { gaps.append(("time_start", "shifting the vDSO clock is implemented for x86_64 only")) }
        #endif
        if policy.noSupervisor && !features.isEmpty {
            throw .invalidPolicy("no_supervisor: \(features.policyFields.joined(separator: ", ")) need the supervisor; remove them or drop --no-supervisor")
        }
        if let (field, reason) = gaps.first, !policy.allowDegraded {
            throw .unsupported(field: field, reason: reason)
        }
        return gaps.map { Enforcement.Gap(feature: $0.0, reason: $0.1) }
    }
}

/// A running (or finished) sandbox.
public final class SandboxProcess: Sendable {
    /// The pid of the sandbox's init (the command's parent, a child subreaper).
    public let pid: Int32
    /// What of the policy the kernel enforces for this sandbox.
    public let enforcement: Enforcement
    private let session: SandboxSession
    private let interactive: Bool
    private let settlement: WorkspaceSettlement?
    private let registration: NameRegistration?
    private let httpProxy: HTTPProxyProcess?

    init(session: SandboxSession, pid: Int32, enforcement: Enforcement, interactive: Bool, settlement: WorkspaceSettlement? = nil,
         registration: NameRegistration? = nil, httpProxy: HTTPProxyProcess? = nil) {
        self.registration = registration
        self.httpProxy = httpProxy
        self.session = session
        self.pid = pid
        self.enforcement = enforcement
        self.interactive = interactive
        self.settlement = settlement
    }

    /// Waits for the command to end; every process of the sandbox is gone when it returns.
    public func wait() async -> RunResult {
        let outcome = await session.completion.wait()
        if interactive { _ = csl_tty_reclaim_foreground(STDIN_FILENO) }
        return settled(RunResult(outcome: outcome, enforcement: enforcement))
    }

    /// Blocks the calling thread until the command ends (for synchronous programs).
    @available(*, noasync)
    public func waitBlocking() -> RunResult {
        let outcome = session.completion.waitBlocking()
        if interactive { _ = csl_tty_reclaim_foreground(STDIN_FILENO) }
        return settled(RunResult(outcome: outcome, enforcement: enforcement))
    }

    /// Commits, aborts or keeps the policy's workspace by the command's outcome.
    private func settled(_ result: RunResult) -> RunResult {
        registration?.end()
        var result = result
        // Every process of the sandbox is gone: the proxy has nothing left to serve.
        result.deniedRequests = httpProxy?.finish() ?? [:]
        result.workspace = settlement?.settle(success: result.success)
        return result
    }

    /// With a name and port_remap: the ports bound so far, virtual → real.
    public var portMapping: [UInt16: UInt16] { registration?.portMapping ?? [:] }

    /// Kills every process of the sandbox (init kills its Landlock domain). Idempotent.
    public func kill() {
        session.kill()
    }

    deinit {
        registration?.end()
    }
}

extension RunResult {
    init(outcome: SandboxSession.Outcome, enforcement: Enforcement) {
        var reason = Reason.killed
        var exitCode: Int32?
        var signal: Int32?
        if let report = outcome.report, report.command_reaped != 0 {
            let status = report.command_status
            if csl_wifexited(status) != 0 {
                reason = .exited
                exitCode = csl_wexitstatus(status)
            } else if csl_wifsignaled(status) != 0 {
                reason = .signaled
                signal = csl_wtermsig(status)
            }
        } else {
            signal = SIGKILL
        }
        // Our own kills take precedence: the command died of them, not of its own accord.
        if let limit = outcome.limitReason {
            reason = limit
        } else if outcome.timedOut {
            reason = .timeout
        } else if outcome.killRequested || outcome.report?.killed_on_request != 0, reason != .exited {
            reason = .killed
        }
        let report = outcome.report
        self.init(
            reason: reason, exitCode: exitCode, signal: signal,
            wallTime: .nanoseconds(outcome.wallNanoseconds),
            userTime: .microseconds(report?.user_usec ?? 0),
            systemTime: .microseconds(report?.system_usec ?? 0),
            peakMemory: UInt64(max(0, report?.max_rss_kb ?? 0)) * 1024,
            leftoverProcessesKilled: Int(report?.processes_killed ?? 0),
            stdout: outcome.stdout, stderr: outcome.stderr, enforcement: enforcement,
            peakProcesses: outcome.peakProcesses, peakSandboxMemory: outcome.peakSandboxMemory,
            supervisorNotifications: outcome.notifications, deniedConnections: outcome.deniedConnections)
    }
}
