#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import SandlockCore

extension Runner {
    /// Runs one stage to its end: the one place a stage executes. Its processes write
    /// through the stage's copy-on-write workspace when it has one, which is settled
    /// (committed, aborted, kept or previewed) once they are over. The record is complete but
    /// not yet written.
    func execute(_ stage: PlannedStage) async -> StageRecord {
        var record = StageRecord(stage: stage.name, kind: stage.kindName, status: .failed)
        // Command and pipeline stages start when they get a `--jobs` slot (runAttempts).
        record.started = Date.now
        var cow: StageWorkspace?
        do throws(StageSetupError) {
            try createDirectory(directory.stageDirectory(stage.name))
            try checkGrantedPaths(of: stage)
            cow = try openWorkspace(for: stage)
            switch stage.work {
            case .command(let process):
                record.process = ProcessEntry(argv: process.argv, policy: policy(of: process, in: stage), enforcement: nil)
                record.stdoutLog = directory.relative(directory.log(.stdout, of: stage.name))
                record.stderrLog = directory.relative(directory.log(.stderr, of: stage.name))
                await runAttempts(stage, into: &record) { [cow, directory = self.directory] attempt in
                    let run = SandboxRun(argv: process.argv, policy: self.policy(of: process, in: stage), io: StandardIO(
                        stdin: .null, stdout: .file(directory.log(.stdout, of: stage.name)),
                        stderr: .file(directory.log(.stderr, of: stage.name))), secrets: self.secrets(of: stage))
                    let (started, workspaces) = self.start(run, in: cow)
                    let (outcome, enforcement) = await started.wait()
                    cow?.hold([workspaces])
                    return (AttemptRecord(attempt: attempt, outcome: outcome), [enforcement])
                }
                cow?.mergeHeld(beside: false) { _ in "the command" }
            case .pipeline(let members):
                record.members = members.map { ProcessEntry(argv: $0.argv, policy: policy(of: $0, in: stage), enforcement: nil) }
                record.stdoutLog = directory.relative(directory.log(.stdout, of: stage.name))
                for i in members.indices { try createDirectory(directory.logDirectory(of: stage.name, .member(i))) }
                await runAttempts(stage, into: &record) { [cow] attempt in
                    let (result, enforcement) = await self.runPipeline(members, of: stage, in: cow)
                    return (AttemptRecord(attempt: attempt, outcome: result.outcome, members: result.members, failedMember: result.failed), enforcement)
                }
                cow?.mergeHeld(beside: true) { "member \($0)" }
            case .map(let map):
                try await runMap(map, of: stage, in: cow, into: &record)
            }
        } catch {
            record.status = .failed
            record.reason = .spawnFailed
            record.message = error.message
        }
        if record.status != .succeeded, Task.isCancelled {
            record.status = .cancelled
            record.message = record.message ?? "the run was interrupted"
        }
        collectArtifacts(of: stage, from: cow)
        if let cow { settling.withLock { _ in settleChanges(cow, of: stage, into: &record) } }
        maskSecrets(of: stage, in: &record)
        let ended = Date.now
        record.ended = ended
        record.durationSeconds = ended.timeIntervalSince(record.started ?? ended)
        return record
    }

    /// Runs attempts until one succeeds, the failure is not retried, or the limit is reached;
    /// each attempt holds one `--jobs` slot (none during the backoff). `attempt` returns what
    /// the kernel enforced for each process (the command, each member, or the reducer).
    func runAttempts(_ stage: PlannedStage, into record: inout StageRecord, reducer: Bool = false,
                     _ attempt: (Int) async -> (AttemptRecord, [Enforcement?])) async {
        let limit = stage.retry?.limit ?? 0
        var number = 1
        while true {
            guard await slots.acquire() else { return }
            if number == 1 && !reducer {
                record.started = Date.now
                events(.stageStarted(stage: stage.name, kind: stage.kindName, shards: nil))
            }
            let (result, enforcement) = await attempt(number)
            slots.release()
            if reducer {
                record.reduceAttempts = (record.reduceAttempts ?? []) + [result]
                if let e = enforcement.first ?? nil { record.reduce?.enforcement = e }
            } else {
                record.attempts.append(result)
                record.attemptCount = number
                for (i, e) in enforcement.enumerated() {
                    guard let e else { continue }
                    if record.members != nil { record.members?[i].enforcement = e } else { record.process?.enforcement = e }
                }
            }
            for p in result.members ?? [result.outcome] { record.account(p) }
            record.decide(by: result.outcome)
            if result.outcome.succeeded {
                record.status = .succeeded
                return
            }
            record.status = .failed
            guard let retry = stage.retry, number <= limit, !Task.isCancelled,
                  result.outcome.reason.isRetried(by: retry.on) else { return }
            let delay = retry.backoff.delay(before: number)
            events(.retrying(stage: stage.name, shard: nil, attempt: number + 1, reason: result.outcome.reasonText, delay: delay))
            keepLogs(of: stage, attempt: number)
            if delay > .zero { try? await Task.sleep(for: delay) }
            guard !Task.isCancelled else { return }
            number += 1
        }
    }

    /// Keeps the logs of a failed attempt (`*.attempt-N.log`) before the next one.
    func keepLogs(of stage: PlannedStage, attempt: Int) {
        var owners: [RunDirectory.LogOwner] = [.stage]
        if case .pipeline(let members) = stage.work { owners += members.indices.map { .member($0) } }
        directory.keepAttemptLogs(of: stage.name, owners, attempt: attempt)
    }

    /// The process's policy with the runner's variables (`SANDLOCK_STAGE`, `SANDLOCK_RUN_DIR`).
    func policy(of process: PlannedProcess, in stage: PlannedStage, extra: [String: String] = [:]) -> Policy {
        var policy = process.policy
        policy.env.merge(stage.environment(runDirectory: directory.path)) { _, new in new }
        if !extra.isEmpty { policy.env.merge(extra) { _, new in new } }
        return policy
    }

    /// Landlock grants only paths that exist: a missing `filesystem.write` directory inside
    /// the workdir is created in the stage's workspace (`CopyOnWriteTree.created`); a missing
    /// one outside it is an error naming it. So is a missing `filesystem.read` path inside the
    /// workdir, which the engine would only find missing inside the sandbox (in a dry run it
    /// may come from an upstream stage's layer); the engine names missing paths elsewhere.
    func checkGrantedPaths(of stage: PlannedStage) throws(StageSetupError) {
        for process in stage.processes {
            for path in process.policy.fsWritable where !RunFiles.exists(path) && !FileSystem.isInside(path, plan.workdir) {
                throw StageSetupError(message: "filesystem.write: '\(path)' does not exist (only paths inside the workdir \(plan.workdir) are created)")
            }
            let created = Set(process.policy.fsWritable)
            for path in process.policy.fsReadable where !options.dryRun && FileSystem.isInside(path, plan.workdir)
                && !RunFiles.exists(path) && !created.contains(path) {
                throw StageSetupError(message: "filesystem.read: '\(path)' does not exist")
            }
        }
    }

    func createDirectory(_ path: String) throws(StageSetupError) {
        do { try RunFiles.makeDirectories(path) } catch { throw StageSetupError(message: error.description) }
    }

    // MARK: Pipelines

    struct PipelineResult {
        var outcome: ProcessRecord
        var members: [ProcessRecord]
        var failed: Int?
    }

    /// Starts every member at once, joined by kernel pipes, and waits for all of them. The
    /// attempt fails if any member fails (pipefail); the member blamed is the first one that
    /// failed other than by SIGPIPE (its reader stopped early), else the first that failed.
    func runPipeline(_ members: [PlannedProcess], of stage: PlannedStage, in cow: StageWorkspace?) async -> (PipelineResult, [Enforcement?]) {
        let (started, workspaces) = startPipeline(members, of: stage, in: cow)
        defer { cow?.hold(workspaces) }
        // A member that could not start fails the attempt: stop the others.
        if started.contains(where: { $0.failure != nil }) {
            for s in started { s.kill() }
        }
        let outcomes = await withTaskGroup(of: (Int, ProcessRecord, Enforcement?).self) { group in
            for (i, s) in started.enumerated() { group.addTask { let (r, e) = await s.wait(); return (i, r, e) } }
            var all = [(ProcessRecord, Enforcement?)?](repeating: nil, count: started.count)
            for await (i, r, e) in group { all[i] = (r, e) }
            return all.compactMap { $0 }
        }
        let records = outcomes.map(\.0)
        let failures = records.indices.filter { !records[$0].succeeded }
        // SIGPIPE, or 141 from a shell whose command died of it.
        func brokenPipe(_ r: ProcessRecord) -> Bool {
            (r.reason == .signaled && r.signal == SIGPIPE) || (r.reason == .exited && r.exitCode == 128 + SIGPIPE)
        }
        let blamed = failures.first { records[$0].reason == .spawnFailed }
            ?? failures.first { !brokenPipe(records[$0]) }
            ?? failures.first
        let decisive = blamed.map { records[$0] } ?? records[records.count - 1]
        return (PipelineResult(outcome: decisive, members: records, failed: blamed), outcomes.map(\.1))
    }

    /// Spawns the members, each over its own workspaces (two overlays cannot share an
    /// upper); the pipe ends are dropped when this returns, so each pipe is held only by its
    /// two sandboxes and EOF propagates.
    private func startPipeline(_ members: [PlannedProcess], of stage: PlannedStage,
                               in cow: StageWorkspace?) -> ([SandboxRun.Started], [[Workspace]]) {
        var started: [SandboxRun.Started] = []
        var workspaces: [[Workspace]] = []
        var input: InputSource = .null
        for (i, member) in members.enumerated() {
            var output: OutputTarget = .file(directory.log(.stdout, of: stage.name))
            var next: SharedDescriptor?
            if i < members.count - 1 {
                do {
                    let pipe = try SharedDescriptor.pipe()
                    output = .descriptor(pipe.write)
                    next = pipe.read
                } catch {
                    output = .discard
                }
            }
            let run = SandboxRun(argv: member.argv, policy: policy(of: member, in: stage), io: StandardIO(
                stdin: input, stdout: output, stderr: .file(directory.log(.stderr, of: stage.name, .member(i)))),
                secrets: secrets(of: stage))
            let (member, memberWorkspaces) = start(run, in: cow)
            started.append(member)
            workspaces.append(memberWorkspaces)
            input = next.map { .descriptor($0) } ?? .null
        }
        return (started, workspaces)
    }
}

/// A stage could not be prepared (a directory, a missing path outside the workdir).
struct StageSetupError: Error {
    var message: String
}
