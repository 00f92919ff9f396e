import FoundationEssentials
import SandlockCore

/// `sandlock-jobs exec`: one Slurm job's part of a stage, on the node the job runs on, by the
/// same code as a local run (`execute`, `runShard`, `conclude`), writing the same records
/// (`result.json`, `shards.jsonl`, logs, change sets). Only `run.json` is left to the
/// submitting side, which is the one writer of it.
extension Runner {
    /// What one job does of a stage.
    public enum ExecPart: Sendable, Hashable {
        /// A command or pipeline stage, retries included, then its changes settled.
        case stage
        /// One worker of a map stage (an array element), retries included.
        case shard(Int)
        /// A map stage once its workers ended: the reducer over the shards' outputs, then
        /// the stage's record.
        case reduce
    }

    /// Runs `part` of `stage` and writes what it ended with; true when the job succeeded
    /// for Slurm's `afterok` (the stage succeeded, or was skipped by its `if:`). A stage
    /// whose needs did not end as its condition asks (Slurm counts a dependency on a job it
    /// already forgot as met) is recorded as skipped, exactly as a local run would.
    public func exec(_ name: String, _ part: ExecPart) async throws(ExecError) -> Bool {
        guard let stage = plan.stage(name) else { throw ExecError("no stage '\(name)' in the run's plan") }
        let run = try? directory.readRunRecord()
        let (results, failedUpstream) = endedUpstream(of: stage)
        if part == .stage || directory.readShardRecords(name).isEmpty { noteFailures() }
        let skipped = settle(stage, results: results, failedUpstream: failedUpstream, selected: run?.selected.map(Set.init))
        switch part {
        case .stage:
            if case .map = stage.work { throw ExecError("stage '\(name)' is a map stage: run its shards (--shard N) and then --reduce") }
            var record: StageRecord
            if let skipped { record = skipped } else { record = await execute(stage) }
            try write(record)
            return record.status == .succeeded || record.status == .skipped
        case .shard(let shard):
            guard case .map(let map) = stage.work else { throw ExecError("stage '\(name)' is not a map stage: it has no shards") }
            guard let count = map.source.count, (0..<count).contains(shard) else {
                throw ExecError("stage '\(name)' has no shard \(shard) (shards 0..<\(map.source.count ?? 0))")
            }
            // The reducer's job records why the stage did not run.
            guard skipped == nil else { return true }
            let log: ShardLog
            do {
                try createDirectory(directory.shardsDirectory(name))
                log = try ShardLog(path: directory.shardRecordsPath(name))
            } catch { throw ExecError(error.message) }
            let end = await runShard(shard, of: map, in: stage, cow: nil, log: log)
            log.sync()
            return end.status == .succeeded
        case .reduce:
            guard case .map(let map) = stage.work else { throw ExecError("stage '\(name)' is not a map stage: it has no reducer") }
            var record: StageRecord
            if let skipped {
                record = skipped
            } else {
                var tally = shardTally(of: stage, map)
                do {
                    try await conclude(map, of: stage, tally.summary, failedShards: tally.failedShards, cow: nil, into: &tally.record)
                } catch {
                    tally.record.status = .failed
                    tally.record.reason = .spawnFailed
                    tally.record.message = error.message
                }
                record = tally.record
                record.ended = .now
                record.durationSeconds = Date.now.timeIntervalSince(record.started ?? .now)
            }
            try write(record)
            return record.status == .succeeded || record.status == .skipped
        }
    }

    /// A map stage's record and counters from its shard records (`shards.jsonl`; a shard
    /// retried by Slurm counts by its last record), as the local map loop tallies them.
    func shardTally(of stage: PlannedStage, _ map: PlannedMap) -> (record: StageRecord, summary: ShardSummary, failedShards: Set<Int>) {
        var record = StageRecord(stage: stage.name, kind: stage.kindName, status: .failed)
        record.process = ProcessEntry(argv: map.worker.argv, policy: policy(of: map.worker, in: stage), enforcement: nil)
        let total = map.source.count ?? 0
        var summary = ShardSummary(total: total, allowedFailures: map.allowFailures?.tolerated(of: total) ?? 0)
        var failedShards = Set<Int>()
        var latest: [Int: ShardRecord] = [:]
        for shard in directory.readShardRecords(stage.name) { latest[shard.shard] = shard }
        for shard in latest.keys.sorted() {
            guard let entry = latest[shard] else { continue }
            Self.tally(ShardEnd(entry), into: &record, &summary, failedShards: &failedShards)
        }
        record.started = latest.values.compactMap { $0.attempts.first?.started }.min() ?? .now
        return (record, summary, failedShards)
    }

    /// The records of the stages `stage` needs (directly or not) that ended, and which of
    /// them failed or are downstream of a failure (what `run` tracks as `failedUpstream`):
    /// a stage Slurm cancelled for a failed need has no record but counts as failed upstream.
    func endedUpstream(of stage: PlannedStage) -> ([String: StageRecord], Set<String>) {
        let upstream = ancestors[stage.name] ?? []
        var results: [String: StageRecord] = [:]
        var failed = Set<String>()
        for other in plan.stages where upstream.contains(other.name) {
            let record = directory.readStageRecord(other.name)
            if let record { results[other.name] = record }
            if record?.status == .failed || record?.status == .conflict || other.needs.contains(where: failed.contains) {
                failed.insert(other.name)
            }
        }
        return (results, failed)
    }

    /// Fail-fast across jobs: once a stage of the run failed (its record says so), an
    /// `if: success` stage that has not started yet is cancelled, as locally; one that has
    /// (a map stage with shard records) goes on. `--keep-going` runs everything.
    func noteFailures() {
        guard !options.keepGoing else { return }
        let failed = plan.stages.first { stage in
            let status = directory.readStageRecord(stage.name)?.status
            return status == .failed || status == .conflict
        }
        if let failed { stopped.withLock { if $0 == nil { $0 = failed.name } } }
    }

    private func write(_ record: StageRecord) throws(ExecError) {
        do { try directory.writeStageRecord(record) } catch {
            throw ExecError("cannot write the record of stage '\(record.stage)': \(error)")
        }
    }
}

extension Runner.ShardEnd {
    /// What the map loop keeps of a shard, from its record.
    init(_ record: ShardRecord) {
        self.init(shard: record.shard, status: record.status, last: record.attempts.last, attempts: record.attempts.count,
                  userCPUSeconds: record.attempts.map(\.userCPUSeconds).reduce(0, +),
                  systemCPUSeconds: record.attempts.map(\.systemCPUSeconds).reduce(0, +),
                  peakMemoryBytes: record.attempts.map(\.peakMemoryBytes).max() ?? 0, enforcement: nil)
        for attempt in record.attempts {
            if let denied = attempt.deniedConnections { deniedConnections.merge(denied, uniquingKeysWith: +) }
        }
    }
}

/// `sandlock-jobs exec` was asked for something the run's plan does not have, or could not
/// write its record.
public struct ExecError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
