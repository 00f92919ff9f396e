#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import FoundationEssentials
import SandlockCore
import SandlockJobs

/// Where runs are looked up: a manifest (its workdir's runs), a workdir, or a runs folder.
struct RunsLocation: ParsableArguments {
    @Option(name: .customLong("in"), help: ArgumentHelp("A manifest, a workdir or a runs directory (default: the current directory).", valueName: "PLACE"))
    var place: String = "."

    /// The runs root (`<workdir>/.sandlock-jobs/runs`) and, when PLACE is a manifest, its
    /// absolute path: only its runs are meant.
    func root() throws -> (root: String, manifest: String?) {
        if !isDirectory(place) {
            let plan = try loadPlan(place)
            return (RunDirectory.runsRoot(workdir: plan.workdir), plan.manifestPath)
        }
        let nested = RunDirectory.runsRoot(workdir: place)
        if isDirectory(nested) { return (nested, nil) }
        if RunDirectory.holdsRuns(place) { return (place, nil) }
        return try manifestRuns(in: place) ?? (nested, nil)
    }

    /// The runs of the manifests in `folder` whose workdir is elsewhere (`workdir: tree`),
    /// so that `runs`, `show latest`, `logs` and `diff` work from where a manifest was run.
    private func manifestRuns(in folder: String) throws -> (root: String, manifest: String?)? {
        var found: [(root: String, manifest: String)] = []
        for name in (try? Directory.entries(atPath: folder, names: .lossy)) ?? [] where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
            guard let plan = try? ManifestLoader().load(path: folder + "/" + name).plan else { continue }
            let root = RunDirectory.runsRoot(workdir: plan.workdir)
            if isDirectory(root) { found.append((root, plan.manifestPath)) }
        }
        guard let first = found.first else { return nil }
        if found.count == 1 { return first }
        if Set(found.map(\.root)).count == 1 { return (first.root, nil) }
        let names = found.map { $0.manifest.split(separator: "/").last.map(String.init) ?? $0.manifest }
        throw fail("the manifests here keep their runs in different workdirs (\(names.joined(separator: ", "))); name one with --in MANIFEST", ExitCode.validationFailure)
    }

    func find(_ run: String) throws -> (RunDirectory, RunRecord) {
        let (root, manifest) = try root()
        guard let directory = RunDirectory.find(run, root: root, manifest: manifest) else {
            throw fail("no run '\(run)' in \(root)", Exit.missingFile)
        }
        do {
            return (directory, try directory.readRunRecord())
        } catch {
            throw fail("\(error)", Exit.missingFile)
        }
    }
}

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List past runs, newest first.",
        discussion: """
            Examples:
              sandlock-jobs runs --in jobs/wordcount.yaml
              sandlock-jobs runs --in jobs            # the runs of manifests whose workdir is jobs/
              sandlock-jobs runs prune --keep 10
            """,
        subcommands: [PruneCommand.self]
    )

    @OptionGroup var location: RunsLocation

    @Option(help: "Show at most this many runs.")
    var limit: Int = 20

    func run() throws {
        let (root, manifest) = try location.root()
        var rows = [["RUN", "NAME", "STATUS", "STARTED", "TIME", "STAGES"]]
        for directory in RunDirectory.list(root: root) where rows.count <= limit {
            guard let record = try? directory.readRunRecord() else {
                if manifest == nil { rows.append([directory.id, "?", "unreadable", "", "", ""]) }
                continue
            }
            if let manifest, record.manifest != manifest { continue }
            var counts: [StageStatus: Int] = [:]
            for stage in record.stages { if let s = stage.status { counts[s, default: 0] += 1 } }
            let stages = StageStatus.allCases.compactMap { s in
                counts[s].map { "\($0) \(s.rawValue)" }
            }.joined(separator: ", ")
            rows.append([record.id, record.name, record.status.rawValue, record.started.formatted(.iso8601),
                         record.durationSeconds.map(RunSummary.seconds) ?? "", stages])
        }
        if rows.count == 1 {
            printError("sandlock-jobs: no runs in \(root)\n")
            return
        }
        print(RunSummary.table(rows), terminator: "")
    }
}

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove old run directories.",
        discussion: """
            Removes the runs past the newest --keep N, or started more than --older-than D \
            ago (500ms, 30s, 5m, 1h, 2d), or either when both are given. A run whose runner \
            still runs is never removed, nor one whose stage kept its workspace (commit or \
            discard it first).

            Examples:
              sandlock-jobs runs prune --keep 10
              sandlock-jobs runs prune --older-than 7d --in jobs/wordcount.yaml
            """
    )

    @OptionGroup var location: RunsLocation

    @Option(help: ArgumentHelp("Keep this many of the newest runs.", valueName: "N"))
    var keep: Int?

    @Option(help: ArgumentHelp("Remove runs that started longer ago than this.", valueName: "DURATION"))
    var olderThan: String?

    func validate() throws {
        if keep == nil && olderThan == nil { throw ValidationError("Say what to remove: --keep N, --older-than DURATION, or both.") }
        if let keep, keep < 0 { throw ValidationError("--keep must be at least 0.") }
        if let olderThan, Units.parseDuration(olderThan) == nil {
            throw ValidationError("--older-than: expected a duration like 30m, 12h or 7d, got '\(olderThan)'.")
        }
    }

    func run() throws {
        let (root, manifest) = try location.root()
        let cutoff = olderThan.flatMap(Units.parseDuration).map { Date.now - TimeInterval(Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18) }
        let result = RunDirectory.prune(root: root, manifest: manifest, keep: keep, startedBefore: cutoff)
        for id in result.removed { print("removed \(id)") }
        for (id, reason) in result.spared { printError("sandlock-jobs: kept \(id): \(reason)\n") }
        if result.removed.isEmpty && result.spared.isEmpty { printError("sandlock-jobs: nothing to remove in \(root)\n") }
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a run's summary again: every stage, and each failure with its stderr tail.",
        discussion: """
            Examples:
              sandlock-jobs show latest --in jobs/wordcount.yaml
              sandlock-jobs show 20261129T202333Z-4f1a --in jobs --json

            Exit codes: 0 the run succeeded (or is running), 1 it failed, 130 it was \
            interrupted, 66 no such run.
            """
    )

    @Argument(help: ArgumentHelp("`latest`, a run id (or a unique prefix), or a run directory.", valueName: "run"))
    var runID: String

    @OptionGroup var location: RunsLocation

    @Flag(help: "Print the run record and every stage's result as JSON.")
    var json = false

    func run() throws {
        let (directory, record) = try location.find(runID)
        let summary = RunSummary(run: record, directory: directory)
        print(json ? summary.json : summary.text, terminator: "")
        // The exit codes of `run`, so scripts can test a finished run as they test a new one.
        switch record.status {
        case .failed: throw ExitCode.failure
        case .interrupted: throw ExitCode(130)
        case .succeeded, .running: return
        }
    }
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a stage's or a shard's stdout (or stderr) from a run.",
        discussion: """
            A pipeline's stdout is its last member's; its stderr is printed member by member. \
            A map stage's stdout is its reducer's (without a reducer, every shard's in item \
            order); name a shard as STAGE/N.

            Examples:
              sandlock-jobs logs latest report --in jobs/wordcount.yaml
              sandlock-jobs logs latest count/2 --stderr --in jobs/wordcount.yaml
            """
    )

    @Argument(help: ArgumentHelp("`latest`, a run id (or a unique prefix), or a run directory.", valueName: "run"))
    var runID: String

    @Argument(help: "STAGE or STAGE/SHARD.")
    var target: String

    @Flag(help: "Print stderr instead of stdout.")
    var stderr = false

    @OptionGroup var location: RunsLocation

    func run() throws {
        let (directory, record) = try location.find(runID)
        let parts = target.split(separator: "/", maxSplits: 1).map(String.init)
        let stage = parts[0]
        guard let planned = record.plan.stage(stage) else {
            throw fail("no stage '\(stage)' in run \(record.id)", ExitCode.validationFailure)
        }
        let stream: RunDirectory.LogStream = stderr ? .stderr : .stdout
        var files: [(String?, String)] = []
        if parts.count == 2 {
            guard let shard = Int(parts[1]), shard >= 0 else {
                throw fail("'\(parts[1])' is not a shard number", ExitCode.validationFailure)
            }
            files = [(nil, directory.log(stream, of: stage, .shard(shard)))]
        } else if case .pipeline(let members) = planned.work, stderr {
            files = members.indices.map { i in
                ("member \(i): \(RunSummary.command(members[i].argv))", directory.log(.stderr, of: stage, .member(i)))
            }
        } else if case .map(let map) = planned.work, map.reduce == nil {
            // No reducer: the stage's output is its shards' files, in item order.
            let count = directory.readStageRecord(stage)?.shards?.total ?? 0
            files = (0..<count).map { (nil, directory.log(stream, of: stage, .shard($0))) }
        } else {
            files = [(nil, directory.log(stream, of: stage))]
        }
        var missing = true
        for (header, path) in files {
            guard let bytes = try? FileSystem.bytes(path) else { continue }
            missing = false
            if let header { writeOut(Array("== \(header)\n".utf8)) }
            writeOut(bytes)
        }
        if missing {
            throw fail("no \(stream.rawValue) log for '\(target)' in run \(record.id) (\(files.map(\.1).joined(separator: ", ")))", Exit.missingFile)
        }
    }

}

/// Writes bytes to stdout as they are (logs, diffs); stops when stdout's reader went away.
func writeOut(_ bytes: [UInt8]) {
    try? StandardStream.output.writeAll(bytes)
}

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}
