import FoundationEssentials

/// The end-of-run summary (also `sandlock-jobs show`): one table row per stage, then for
/// each failure its reason, the last lines of its stderr and the path of the full log.
public struct RunSummary: Sendable {
    public var run: RunRecord
    public var stages: [StageRecord]
    public var directory: RunDirectory
    /// Lines of stderr shown per failure.
    public static let tailLines = 20
    /// Failed shards shown in detail per stage (the record lists more).
    static let shardsShown = 3
    /// Change lines shown per stage in a dry run's summary with `verbose` (`changes.txt`
    /// has them all).
    static let changesShown = 200
    /// A dry run's (or kept stage's) change sets path by path instead of by directory.
    public var verbose = false

    /// Reads the stage records of a run; stages without one (not ended) are listed as such.
    public init(run: RunRecord, directory: RunDirectory) {
        self.run = run
        self.directory = directory
        stages = run.stages.map { entry in
            if let record = directory.readStageRecord(entry.name) { return record }
            var missing = StageRecord(stage: entry.name, kind: run.plan.stage(entry.name)?.kindName ?? "?", status: .cancelled)
            missing.message = [.running, .interrupted].contains(run.status) ? "did not end (the runner stopped)" : "no record"
            return missing
        }
    }

    public var text: String {
        var out = "run \(run.id) '\(run.name)': \(run.status.rawValue)"
        if let d = run.durationSeconds { out += " in \(Self.seconds(d))" }
        if let counts = cacheCounts { out += " (\(counts))" }
        out += "\n\n"
        var rows = [["STAGE", "STATUS", "REASON", "ATTEMPTS", "TIME", "CPU", "PEAK MEM", "SHARDS"]]
        for s in stages {
            let shards = s.shards.map {
                "\($0.succeeded)/\($0.total)" + ($0.failed > 0 ? " (\($0.failed) failed)" : "") + ($0.cached > 0 ? " (\($0.cached) cached)" : "")
            } ?? ""
            let ran = s.started != nil
            let status = s.status == .succeeded && s.cache?.outcome == .cached ? "cached" : s.status.rawValue
            rows.append([
                s.stage, status, Self.clip(s.reasonText, 48),
                ran && s.attemptCount > 0 ? String(s.attemptCount) : "",
                s.durationSeconds.map(Self.seconds) ?? "",
                ran ? Self.seconds(s.userCPUSeconds + s.systemCPUSeconds) : "",
                ran && s.peakMemoryBytes > 0 ? Self.size(s.peakMemoryBytes) : "",
                shards,
            ])
        }
        out += Self.table(rows)
        for s in stages {
            guard let denied = s.deniedConnections, !denied.isEmpty else { continue }
            let list = denied.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value)x)" }
            out += "stage '\(s.stage)': denied connections: \(list.joined(separator: ", "))\n"
        }
        out += changesText
        let failures = stages.filter { $0.status == .failed }
        for s in failures { out += "\n" + failureText(s) }
        out += "\nrun directory: \(directory.path)\n"
        return out
    }

    /// The reason, the output tail and the log path of a failed stage (or its failed shards):
    /// stderr's, or stdout's when stderr is empty (pytest reports on stdout); nothing when
    /// both are empty.
    func failureText(_ s: StageRecord) -> String {
        var out = "✗ stage '\(s.stage)' failed: \(s.reasonText)\n"
        for (label, log) in failedLogs(s) {
            if !label.isEmpty { out += "  \(label)\n" }
            guard let (stream, path, tail) = failureTail(log) else { continue }
            out += "    \(stream.rawValue), last \(tail.count) line\(tail.count == 1 ? "" : "s"):\n"
            for line in tail { out += "    | \(Self.clip(line, 200))\n" }
            out += "    full log: \(path)\n"
        }
        return out
    }

    /// The last lines of a failed process's stderr (its log relative to the run directory),
    /// else of its stdout (the file beside it); nil when both are empty.
    func failureTail(_ stderrLog: String) -> (RunDirectory.LogStream, String, [String])? {
        let stderrPath = directory.path + "/" + stderrLog
        let stdoutPath = String(stderrPath.dropLast("stderr.log".count)) + "stdout.log"
        for (stream, path) in [(RunDirectory.LogStream.stderr, stderrPath), (.stdout, stdoutPath)] {
            let tail = RunFiles.tail(path, lines: Self.tailLines)
            if !tail.isEmpty { return (stream, path, tail) }
        }
        return nil
    }

    /// (label, stderr log relative to the run directory) of what failed in a stage.
    func failedLogs(_ s: StageRecord) -> [(String, String)] {
        let stderr = { (owner: RunDirectory.LogOwner) in directory.relative(directory.log(.stderr, of: s.stage, owner)) }
        switch s.kind {
        case "pipeline":
            let member = s.attempts.last?.failedMember ?? 0
            let argv = s.members.map { $0[min(member, $0.count - 1)].argv } ?? []
            return [("member \(member): \(Self.command(argv))", stderr(.member(member)))]
        case "map":
            let shards = s.shards?.failedShards ?? []
            if let summary = s.shards, summary.failed <= summary.allowedFailures, s.reduceAttempts != nil {
                return [("reducer", stderr(.stage))]
            }
            let records = directory.readShardRecords(s.stage)
            return shards.prefix(Self.shardsShown).map { n in
                let reason = records.last { $0.shard == n }?.attempts.last?.reasonText ?? "?"
                return ("shard \(n): \(reason)", stderr(.shard(n)))
            }
        default:
            return s.reason == .spawnFailed && s.attempts.isEmpty ? [] : [("", stderr(.stage))]
        }
    }

    /// A command as the user wrote it: the script of a shell argv, else the argv joined.
    public static func command(_ argv: [String]) -> String {
        Shell.script(of: argv) ?? argv.joined(separator: " ")
    }

    /// Columns padded to their widest cell.
    public static func table(_ rows: [[String]]) -> String {
        var widths = [Int](repeating: 0, count: rows.first?.count ?? 0)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            var line = ""
            for (i, cell) in row.enumerated() {
                line += i == row.count - 1 ? cell : cell.padding(widths[i] + 2)
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line + "\n"
        }.joined()
    }

    static func clip(_ s: String, _ n: Int) -> String {
        let line = s.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return line.count <= n ? line : String(line.prefix(n - 1)) + "…"
    }

    /// `0.42s`, `12.3s`, `2m05s`.
    public static func seconds(_ s: Double) -> String {
        if s < 10 { return "\(Double(Int((s * 100).rounded())) / 100)s" }
        if s < 60 { return "\(Double(Int((s * 10).rounded())) / 10)s" }
        let total = Int(s.rounded())
        let sec = total % 60
        return "\(total / 60)m\(sec < 10 ? "0" : "")\(sec)s"
    }

    static func size(_ bytes: UInt64) -> String {
        bytes >= 1 << 30 ? "\(Double(bytes >> 20) / 1024) GiB".replacingOccurrences(".0 ", " ")
            : bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB"
    }
}

extension RunSummary {
    /// `--json`: the run record and every stage's result, sorted keys.
    public var json: String {
        struct Report: Encodable {
            var run: RunRecord
            var results: [StageRecord]
        }
        return String(decoding: RecordCoding.encode(Report(run: run, results: stages)), as: UTF8.self)
    }

    /// Writes the JUnit XML report atomically.
    public func writeJUnit(to path: String) throws(RunFileError) {
        try RunFiles.writeAtomically(Array(JUnitReport.render(self).utf8), to: path, sync: true)
    }
}

extension RunSummary {
    /// What each stage changed and what became of it; in a dry run every change, as
    /// `A path` lines; conflicts with both versions; how to settle kept workspaces.
    var changesText: String {
        let dryRun = run.dryRun == true
        let changed = stages.filter { $0.changes.map { dryRun || $0.isWorthShowing } ?? false }
        guard !changed.isEmpty else { return "" }
        var out = dryRun ? "\ndry run: nothing was committed; each stage's changes:\n" : "\nchanges:\n"
        for s in changed {
            guard let c = s.changes else { continue }
            out += "  \(s.stage): \(c.countText), \(c.outcomeText)"
            if let message = c.message { out += " (\(message))" }
            out += "\n"
            if dryRun || c.outcome == .kept, c.total > 0 {
                let file = directory.changesFile(s.stage, .summary)
                let text = (try? FileSystem.read(file)) ?? ""
                if verbose {
                    for line in text.split(separator: "\n").prefix(Self.changesShown) { out += "    \(line)\n" }
                    if c.total > Self.changesShown { out += "    … \(c.total - Self.changesShown) more in \(file)\n" }
                } else {
                    out += ChangeOverview(lines: text.split(separator: "\n")).text(indent: "    ")
                    out += "    every path: \(file) (or --verbose)\n"
                }
            }
            for conflict in c.conflicts ?? [] {
                out += "    ≠ \(conflict.path): \(conflict.reason)\n"
                if let theirs = conflict.theirs { out += "        \(conflict.stage.map { "stage '\($0)'" } ?? "real tree"): \(theirs)\n" }
                if let ours = conflict.ours { out += "        this stage: \(ours)\n" }
            }
            if c.outcome == .kept || c.outcome == .conflict || c.outcome == .failed, c.workspaces != nil {
                let place = "--in \(Self.quoted(run.manifest))"
                out += "    kept: sandlock-jobs diff \(run.id) \(s.stage) \(place)\n"
                out += "          sandlock-jobs commit \(run.id) \(s.stage) \(place)   (or discard)\n"
            }
        }
        return out
    }

    static func quoted(_ text: String) -> String {
        text.allSatisfy { $0.isLetter || $0.isNumber || "/._-+=:,@".contains($0) } ? text
            : "'" + text.replacingOccurrences("'", "'\\''") + "'"
    }
}
