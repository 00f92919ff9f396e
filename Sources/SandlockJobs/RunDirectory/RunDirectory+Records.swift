#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import SandlockSystem

/// The records of a run and their transitions. Every write is atomic and durable (temp
/// file, fsync, rename, fsync of the directory):
///
///     run.json            written when the run starts (status `running`), after each stage
///                         ends, when the run ends (`succeeded`, `failed`, `interrupted`),
///                         and when a kept stage is settled later (`commit`/`discard`)
///     result.json         written when the stage ends; again when its kept workspace is
///                         committed or discarded
///     shards.jsonl        appended to as shards end (`ShardLog`)
///
/// A stage has no record while it runs: `run.json` lists it without a status and `show`
/// says "did not end" for a run whose runner stopped.
extension RunDirectory {
    // MARK: Reading

    /// The run's record; a `running` run whose runner is gone (a second Ctrl-C, SIGKILL, a
    /// crash: it could not say so itself) reads as `interrupted`.
    public func readRunRecord() throws(RunFileError) -> RunRecord {
        var record = try RecordCoding.decode(RunRecord.self, path: runRecordPath)
        // A run on Slurm has no runner holding the lock while it is detached: its jobs are
        // what runs (`status` asks Slurm).
        if record.status == .running && record.executor == nil && runnerIsGone { record.status = .interrupted }
        return record
    }

    /// The stage's record, or nil when the stage has not ended (or never ran).
    public func readStageRecord(_ stage: String) -> StageRecord? {
        try? RecordCoding.decode(StageRecord.self, path: stageRecordPath(stage))
    }

    /// Every shard record of a stage, in the order the shards ended (complete lines only).
    public func readShardRecords(_ stage: String) -> [ShardRecord] {
        guard let bytes = try? Files.read(shardRecordsPath(stage)) else { return [] }
        return bytes.split(separator: UInt8(ascii: "\n")).compactMap { RecordCoding.decode(ShardRecord.self, line: $0) }
    }

    /// A shard's record, or nil when it has not ended.
    public func readShardRecord(_ stage: String, _ shard: Int) -> ShardRecord? {
        readShardRecords(stage).last { $0.shard == shard }
    }

    /// `resume`: the attempts of the run so far (the record's earlier ones and the record's
    /// own), before `runStarted` replaces it.
    public func attemptHistory() -> [RunRecord.Attempt]? {
        guard let run = try? readRunRecord() else { return nil }
        // A runner killed mid-run left `running`: that attempt was interrupted.
        let status: RunRecord.Status = run.status == .running ? .interrupted : run.status
        return (run.earlierAttempts ?? []) + [RunRecord.Attempt(started: run.started, ended: run.ended, status: status, commandLine: run.commandLine)]
    }

    // MARK: Transitions

    /// The run started: `run.json`, status `running`, no stage ended.
    public func runStarted(_ run: RunRecord) throws(RunFileError) {
        try writeRunRecord(run)
    }

    /// A stage ended, or its kept changes were settled later: writes its `result.json`, then
    /// `run.json` with the stage's status. A run that is over (`succeeded` or `failed`) gets
    /// its overall status recomputed from every stage's record (`RunRecord.overallStatus`),
    /// so a resolved conflict shows in `runs` and `show`; a running or interrupted run keeps
    /// its status.
    public func record(_ stage: StageRecord, in run: inout RunRecord) throws(RunFileError) {
        if let i = run.stages.firstIndex(where: { $0.name == stage.stage }) { run.stages[i].status = stage.status }
        try writeStageRecord(stage)
        if run.status == .succeeded || run.status == .failed {
            var statuses: [String: StageStatus] = [:]
            for entry in run.stages {
                let status = entry.name == stage.stage ? stage.status : readStageRecord(entry.name)?.status ?? entry.status
                if let status { statuses[entry.name] = status }
            }
            run.status = run.overallStatus(statuses)
        }
        try writeRunRecord(run)
    }

    /// The run ended: `interrupted` when it was cancelled, else its overall status from
    /// the stages' statuses in `run.json`.
    public func runEnded(_ run: inout RunRecord, interrupted: Bool, at ended: Date) throws(RunFileError) {
        var statuses: [String: StageStatus] = [:]
        for entry in run.stages { if let status = entry.status { statuses[entry.name] = status } }
        run.status = interrupted ? .interrupted : run.overallStatus(statuses)
        run.ended = ended
        run.durationSeconds = ended.timeIntervalSince(run.started)
        try writeRunRecord(run)
    }

    /// Before a retry: the previous attempt's logs become `*.attempt-<n>.log`.
    func keepAttemptLogs(of stage: String, _ owners: [LogOwner], attempt: Int) {
        for owner in owners {
            for stream in LogStream.allCases where RunFiles.exists(log(stream, of: stage, owner)) {
                rename(log(stream, of: stage, owner), log(stream, of: stage, owner, attempt: attempt))
            }
        }
    }

    // MARK: Writing

    public func writeRunRecord(_ record: RunRecord) throws(RunFileError) {
        try RunFiles.writeAtomically(RecordCoding.encode(record), to: runRecordPath, sync: true)
    }

    public func writeStageRecord(_ record: StageRecord) throws(RunFileError) {
        try RunFiles.makeDirectories(stageDirectory(record.stage))
        try RunFiles.writeAtomically(RecordCoding.encode(record), to: stageRecordPath(record.stage), sync: true)
    }
}
