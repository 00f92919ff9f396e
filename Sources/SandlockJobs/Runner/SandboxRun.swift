import FoundationEssentials
import SandlockCore

/// One sandboxed process, started and awaited through SandlockCore in-process. Task
/// cancellation kills the sandbox's whole tree.
struct SandboxRun {
    var argv: [String]
    var policy: Policy
    var io: StandardIO
    /// Copy-on-write workspaces the process runs over (none: it writes the real trees).
    var workspaces: [Workspace] = []
    /// The stage's secrets, added to the environment only here, at the spawn: `policy` is
    /// what records show.
    var secrets: [String: String] = [:]

    /// Starts the sandbox; a setup failure comes back as a finished `spawn_failed` record.
    func start() -> Started {
        let started = Date.now
        do {
            var policy = policy
            policy.env.merge(secrets) { _, secret in secret }
            let process = try Sandbox(policy: policy).spawn(argv, io: io, workspace: workspaces.isEmpty ? .policy : .attached(workspaces))
            return Started(process: process, started: started, failure: nil)
        } catch {
            let grant = error.directoryToGrant.map { " (add it to the policy: filesystem: { read: [\($0)] })" } ?? ""
            return Started(failure: error.description + grant, started: started)
        }
    }

    /// Starts and waits.
    func run() async -> (record: ProcessRecord, enforcement: Enforcement?) {
        await start().wait()
    }

    struct Started: Sendable {
        let process: SandboxProcess?
        let started: Date
        let failure: ProcessRecord?

        init(process: SandboxProcess?, started: Date, failure: ProcessRecord?) {
            self.process = process
            self.started = started
            self.failure = failure
        }

        /// A sandbox that could not start: a finished `spawn_failed` record.
        init(failure message: String, started: Date = .now) {
            let now = Date.now
            self.init(process: nil, started: started, failure: ProcessRecord(
                reason: .spawnFailed, exitCode: nil, signal: nil, message: message, started: started, ended: now,
                durationSeconds: now.timeIntervalSince(started), userCPUSeconds: 0, systemCPUSeconds: 0,
                peakMemoryBytes: 0, leftoverProcessesKilled: 0))
        }

        func kill() { process?.kill() }

        func wait() async -> (record: ProcessRecord, enforcement: Enforcement?) {
            guard let process else { return (failure!, nil) }
            let result = await withTaskCancellationHandler {
                await process.wait()
            } onCancel: {
                process.kill()
            }
            return (ProcessRecord(result, started: started), result.enforcement)
        }
    }
}

extension ProcessRecord {
    init(_ r: RunResult, started: Date) {
        self.init(
            reason: EndReason(r.reason), exitCode: r.exitCode, signal: r.signal, message: nil,
            started: started, ended: started.addingTimeInterval(r.wallTime.seconds), durationSeconds: r.wallTime.seconds,
            userCPUSeconds: r.userTime.seconds, systemCPUSeconds: r.systemTime.seconds, peakMemoryBytes: r.peakMemory,
            peakSandboxMemoryBytes: r.peakSandboxMemory, peakProcesses: r.peakProcesses,
            leftoverProcessesKilled: r.leftoverProcessesKilled,
            deniedConnections: r.deniedConnections.isEmpty ? nil : r.deniedConnections)
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
