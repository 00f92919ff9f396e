#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import SandlockCore

extension Runner {
    /// What the map loop keeps of one shard: counters only, so memory stays flat however
    /// many shards there are (each shard's full record is on disk).
    struct ShardEnd: Sendable {
        var shard: Int
        var status: StageStatus
        var last: ProcessRecord?
        var attempts: Int
        var userCPUSeconds: Double
        var systemCPUSeconds: Double
        var peakMemoryBytes: UInt64
        var enforcement: Enforcement?
        var deniedConnections: [String: Int] = [:]
        /// Reused from the cache or kept by `resume`: nothing ran.
        var cached = false
    }

    /// One sandboxed worker per item, at most `max_parallel` (and `--jobs`) at once, each
    /// writing stdout and stderr to its own files; then the reducer, fed the workers' stdout
    /// in item order. Shards are started as earlier ones end (a sliding window), so the
    /// runner holds at most `max_parallel` shard tasks however many items there are. With a
    /// copy-on-write workspace, each shard writes its own upper, merged into the stage's when
    /// the shard succeeds (a failed shard's writes are dropped); the reducer sees them.
    func runMap(_ map: PlannedMap, of stage: PlannedStage, in cow: StageWorkspace?,
                into record: inout StageRecord) async throws(StageSetupError) {
        let map = try finalItems(map, of: stage)
        let total = map.source.count ?? 0
        let allowed = map.allowFailures?.tolerated(of: total) ?? 0
        var summary = ShardSummary(total: total, allowedFailures: allowed)
        record.process = ProcessEntry(argv: map.worker.argv, policy: policy(of: map.worker, in: stage), enforcement: nil)
        events(.stageStarted(stage: stage.name, kind: "map", shards: total))
        try createDirectory(directory.shardsDirectory(stage.name))
        let log = try ShardLog(path: directory.shardRecordsPath(stage.name))
        // Every shard record is on disk before the stage's own record is written.
        defer { log.sync() }

        // Shards whose output the reducer skips: bounded by the allowance (beyond it the
        // stage fails and no reducer runs).
        var failedShards = Set<Int>()
        // Shards killed by an interrupt: they started, so they are not among those that did not run.
        var interrupted = 0
        var stop = false
        let width = max(1, min(map.maxParallel ?? options.jobs, options.jobs))
        await withTaskGroup(of: ShardEnd.self) { group in
            var next = 0
            func startNext() {
                guard next < total, !stop, !Task.isCancelled else { return }
                let shard = next
                next += 1
                group.addTask { await self.runShard(shard, of: map, in: stage, cow: cow, log: log) }
            }
            for _ in 0..<width { startNext() }
            while let end = await group.next() {
                Self.tally(end, into: &record, &summary, failedShards: &failedShards)
                if end.status == .cancelled { interrupted += 1 }
                // Doomed: in fail-fast mode start no more shards.
                if summary.failed > allowed && !options.keepGoing { stop = true }
                events(.shardEnded(stage: stage.name, shard: end.shard, succeeded: end.status == .succeeded,
                                   reason: end.last?.reasonText ?? "", done: summary.succeeded + summary.failed,
                                   failed: summary.failed, total: total))
                startNext()
            }
        }
        try await conclude(map, of: stage, summary, failedShards: failedShards, interrupted: interrupted, cow: cow, into: &record)
    }

    /// Adds an ended shard to the stage's record and counters; `failedShards` collects the
    /// failed shards the reducer skips (at most one past the allowance: beyond it the stage
    /// fails and no reducer runs).
    static func tally(_ end: ShardEnd, into record: inout StageRecord, _ summary: inout ShardSummary,
                      failedShards: inout Set<Int>) {
        record.userCPUSeconds += end.userCPUSeconds
        record.systemCPUSeconds += end.systemCPUSeconds
        record.peakMemoryBytes = max(record.peakMemoryBytes, end.peakMemoryBytes)
        record.addDenied(end.deniedConnections)
        if record.process?.enforcement == nil { record.process?.enforcement = end.enforcement }
        summary.retries += max(0, end.attempts - 1)
        switch end.status {
        case .succeeded:
            summary.succeeded += 1
            if end.cached { summary.cached += 1 }
        case .failed:
            summary.failed += 1
            if summary.failedShards.count < RunnerLimits.failedShardsListed { summary.failedShards.append(end.shard) }
            if failedShards.count <= summary.allowedFailures { failedShards.insert(end.shard) }
            if record.reason == nil || record.reason == .exited && record.exitCode == 0, let last = end.last {
                record.decide(by: last)
            }
        case .skipped, .cancelled, .conflict: break
        }
    }

    /// Once the shards are over: the stage fails past the allowance, is cancelled when
    /// shards did not run, else the reducer (if any) runs over the outputs of the shards
    /// that succeeded.
    func conclude(_ map: PlannedMap, of stage: PlannedStage, _ summary: ShardSummary, failedShards: Set<Int>,
                  interrupted: Int = 0, cow: StageWorkspace?, into record: inout StageRecord) async throws(StageSetupError) {
        var summary = summary
        let total = summary.total, allowed = summary.allowedFailures
        // Shards killed by an interrupt started: they are not among those that did not run.
        summary.notRun = total - summary.succeeded - summary.failed - interrupted
        if Self.failedPastAllowance(summary, into: &record) { return }
        if summary.notRun > 0 || Task.isCancelled {
            record.status = .cancelled
            let counts = [(interrupted, "interrupted"), (summary.notRun, "did not run")].filter { $0.0 > 0 }
            record.message = "the run was interrupted: " + counts.map { "\($0.0) of \(total) shards \($0.1)" }.joined(separator: ", ")
            return
        }
        record.message = summary.failed > 0 ? "\(summary.failed) of \(total) shards failed (\(allowed) allowed)" : nil
        guard let reducer = map.reduce else {
            record.status = .succeeded
            record.reason = .exited
            record.exitCode = 0
            return
        }
        try await runReducer(reducer, of: stage, shards: total, skipping: failedShards, cow: cow, into: &record)
    }

    /// The map with its `glob:`/`lines:` items read now, after the stages before it wrote
    /// them (what `Planner(inputsAreFinal: true)` does for the whole manifest); in a dry run,
    /// through the layers of what they would have written.
    func finalItems(_ map: PlannedMap, of stage: PlannedStage) throws(StageSetupError) -> PlannedMap {
        var map = map
        let preview = previewedWorkdir(for: stage)
        // The view shows real paths; the plan's paths start with the workdir as written.
        switch map.source {
        case .items, .shards, .matrix: break
        case .glob(let pattern, _):
            let matches = viewPath(of: pattern).flatMap { preview?.glob($0) } ?? FileSystem.glob(pattern)
            map.source = .glob(pattern: pattern, matches: matches)
        case .lines(let file, _):
            if let preview, let previewed = viewPath(of: file) {
                guard let bytes = preview.contents(of: previewed) else {
                    throw StageSetupError(message: "map.over.lines: cannot read '\(file)': \(preview.exists(previewed) ? "unreadable" : "not there after the stages it needs (dry run)")")
                }
                map.source = .lines(file: file, items: ItemSource.lines(of: String(decoding: bytes, as: UTF8.self)))
                break
            }
            do {
                map.source = .lines(file: file, items: ItemSource.lines(of: try FileSystem.read(file)))
            } catch {
                throw StageSetupError(message: "map.over.lines: cannot read '\(file)': \(error.reason)")
            }
        }
        return map
    }

    /// One worker: its own directory, stdout and stderr straight to files, retries as the
    /// stage says; its record is appended to `shards.jsonl` when it ends.
    func runShard(_ shard: Int, of map: PlannedMap, in stage: PlannedStage, cow: StageWorkspace?, log: ShardLog) async -> ShardEnd {
        var end = ShardEnd(shard: shard, status: .cancelled, last: nil, attempts: 0, userCPUSeconds: 0,
                           systemCPUSeconds: 0, peakMemoryBytes: 0, enforcement: nil)
        let item = map.item(at: shard) ?? ""
        if let reused = reusedShard(shard, of: stage, item: item, log: log) { return reused }
        var policy = policy(of: map.worker, in: stage, extra: map.environment(forShard: shard) ?? [:])
        // A shard whose item may not be granted fails without starting, saying why.
        var refusal: String?
        do {
            if let grant = try itemGrant(item, of: map, preview: previewedWorkdir(for: stage)) { policy.fsReadable.append(grant) }
        } catch {
            refusal = error.message
        }
        var attempts: [ProcessRecord] = []
        let limit = stage.retry?.limit ?? 0
        while true {
            guard await slots.acquire() else { break }
            // A directory that cannot be made shows as the shard's spawn failure (its logs).
            if attempts.isEmpty { try? RunFiles.makeDirectories(directory.logDirectory(of: stage.name, .shard(shard))) }
            let io = StandardIO(stdin: .null, stdout: .file(directory.log(.stdout, of: stage.name, .shard(shard))),
                                stderr: .file(directory.log(.stderr, of: stage.name, .shard(shard))))
            let (started, workspaces) = refusal.map { (SandboxRun.Started(failure: $0), []) }
                ?? start(SandboxRun(argv: map.worker.argv, policy: policy, io: io, secrets: secrets(of: stage)), in: cow)
            let (outcome, enforcement) = await started.wait()
            slots.release()
            if outcome.succeeded {
                cow?.merge(workspaces, beside: true, label: "shard \(shard)")
            } else {
                cow?.discard(workspaces)
            }
            attempts.append(outcome)
            end.attempts += 1
            end.last = outcome
            end.userCPUSeconds += outcome.userCPUSeconds
            end.systemCPUSeconds += outcome.systemCPUSeconds
            end.peakMemoryBytes = max(end.peakMemoryBytes, outcome.peakMemoryBytes)
            if let denied = outcome.deniedConnections { end.deniedConnections.merge(denied, uniquingKeysWith: +) }
            if end.enforcement == nil { end.enforcement = enforcement }
            if outcome.succeeded {
                end.status = .succeeded
                break
            }
            end.status = outcome.reason == .killed && Task.isCancelled ? .cancelled : .failed
            guard refusal == nil, let retry = stage.retry, attempts.count <= limit, !Task.isCancelled,
                  outcome.reason.isRetried(by: retry.on) else { break }
            let delay = retry.backoff.delay(before: attempts.count)
            events(.retrying(stage: stage.name, shard: shard, attempt: attempts.count + 1, reason: outcome.reasonText, delay: delay))
            directory.keepAttemptLogs(of: stage.name, [.shard(shard)], attempt: attempts.count)
            if delay > .zero { try? await Task.sleep(for: delay) }
        }
        if !attempts.isEmpty {
            var record = ShardRecord(shard: shard, item: item, status: end.status, attempts: attempts)
            record.key = shardKey(shard, of: stage)
            log.append(record)
            if end.status == .succeeded { storeShard(record, of: stage) }
        }
        return end
    }

    /// The reducer, with the workers' stdout in item order on stdin, streamed from the
    /// files by a feeder thread through a pipe (never all in memory).
    func runReducer(_ reducer: PlannedProcess, of stage: PlannedStage, shards: Int, skipping: Set<Int>,
                    cow: StageWorkspace?, into record: inout StageRecord) async throws(StageSetupError) {
        let policy = policy(of: reducer, in: stage)
        record.reduce = ProcessEntry(argv: reducer.argv, policy: policy, enforcement: nil)
        record.stdoutLog = directory.relative(directory.log(.stdout, of: stage.name))
        record.stderrLog = directory.relative(directory.log(.stderr, of: stage.name))
        let directory = self.directory
        let name = stage.name
        await runAttempts(stage, into: &record, reducer: true) { attempt in
            let outputs: @Sendable (Int) -> String? = { shard in
                skipping.contains(shard) ? nil : directory.log(.stdout, of: name, .shard(shard))
            }
            var feed: ReducerFeed?
            let started: SandboxRun.Started
            do {
                let pipe = try KernelPipe()
                let input = SharedDescriptor(pipe.read)
                let workspaces: [Workspace]
                (started, workspaces) = self.start(SandboxRun(argv: reducer.argv, policy: policy, io: StandardIO(
                    stdin: .descriptor(input), stdout: .file(directory.log(.stdout, of: name)),
                    stderr: .file(directory.log(.stderr, of: name))), secrets: self.secrets(of: stage)), in: cow, seesStage: true)
                cow?.hold([workspaces])
                // Our reference to the read end goes with `input` at the end of this block:
                // only the reducer holds it, so the feed gets EPIPE if the reducer stops
                // reading. The write end is the feed's, or closed here when the reducer did
                // not start.
                if started.failure == nil {
                    feed = ReducerFeed.start(writer: SharedDescriptor(pipe.write), count: shards, path: outputs)
                }
            } catch {
                started = SandboxRun.Started(failure: "reducer stdin: pipe2: \(error)")
            }
            let (outcome, enforcement) = await started.wait()
            await feed?.finished()
            return (AttemptRecord(attempt: attempt, outcome: outcome), [enforcement])
        }
        cow?.mergeHeld(beside: false) { _ in "the reducer" }
        record.attemptCount = record.reduceAttempts?.count ?? 0
    }
}

extension Runner {
    /// Records the counters; true (and the stage failed, saying why) when more shards failed
    /// than the stage allows.
    static func failedPastAllowance(_ summary: ShardSummary, into record: inout StageRecord) -> Bool {
        record.shards = summary
        guard summary.failed > summary.allowedFailures else { return false }
        record.status = .failed
        record.message = "\(summary.failed) of \(summary.total) shards failed (\(summary.allowedFailures) allowed); first: " +
            summary.failedShards.prefix(5).map { "shards/\($0)" }.joined(separator: ", ")
        return true
    }
}

extension ItemSource {
    /// The non-empty lines of a `lines:` file, as the planner reads them.
    static func lines(of text: String) -> [String] {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map(String.init).filter { !$0.isEmpty }
    }
}
