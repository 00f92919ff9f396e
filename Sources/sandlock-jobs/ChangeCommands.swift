import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import SandlockCore
import SandlockJobs

/// A stage of a past run and its copy-on-write record.
struct StageChangesTarget: ParsableArguments {
    @Argument(help: ArgumentHelp("`latest`, a run id (or a unique prefix), or a run directory.", valueName: "run"))
    var runID: String

    @Argument(help: "The stage.")
    var stage: String

    @OptionGroup var location: RunsLocation

    func load() throws -> (RunDirectory, RunRecord, StageRecord, StageChanges) {
        let (directory, run) = try location.find(runID)
        guard let record = directory.readStageRecord(stage) else {
            let known = run.stages.map(\.name).contains(stage)
            throw fail("run \(run.id) has \(known ? "no result for" : "no") stage '\(stage)' (stages: \(run.stages.map(\.name).joined(separator: ", ")))", Exit.missingFile)
        }
        guard let changes = record.changes else {
            throw fail("stage '\(stage)' of run \(run.id) ran without a copy-on-write workspace: it may write nothing inside the workdir (see docs/manifest.md, Copy-on-write and dry runs)")
        }
        return (directory, run, record, changes)
    }

    /// The stage's kept workspaces, opened; an error when there are none to settle.
    func keptWorkspaces(_ run: RunRecord, _ changes: StageChanges, verb: String) throws -> [Workspace] {
        guard run.dryRun != true else {
            throw fail("run \(run.id) was a dry run: its changes were layered on other previews and are gone; run it without --dry-run")
        }
        guard let directories = changes.workspaces, !directories.isEmpty,
              [.kept, .conflict, .failed].contains(changes.outcome) else {
            throw fail("nothing to \(verb): the changes of stage '\(stage)' in run \(run.id) were \(changes.outcome.rawValue)")
        }
        return try directories.map { path in
            do { return try Workspace.open(path) } catch {
                throw fail("\(error) (was the workspace storage cleared, e.g. /tmp at a reboot?)", Exit.missingFile)
            }
        }
    }
}

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Print what a stage changed, as a unified diff (like git diff).",
        discussion: """
            Text files line by line, binary files as "Binary files … differ". Paths in the \
            workdir are relative to it; in a dry run, other written trees follow under a \
            `# /their/path` line.

            Examples:
              sandlock-jobs diff latest prepare --in jobs/wordcount.yaml
              sandlock-jobs diff latest prepare --name-status --in jobs/wordcount.yaml
            """
    )

    @OptionGroup var target: StageChangesTarget

    @Flag(help: "Only the changed paths, as `A path`, `M path`, `D path`, `R old -> new` lines.")
    var nameStatus = false

    @Flag(help: "The change set as JSON (type, mode, size and sha256 before and after).")
    var json = false

    func run() throws {
        let (directory, _, _, _) = try target.load()
        let path = directory.changesFile(target.stage, json ? .json : nameStatus ? .summary : .diff)
        do {
            writeOut(try FileSystem.bytes(path))
        } catch {
            throw fail("\(error)", Exit.missingFile)
        }
    }
}

struct CommitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commit",
        abstract: "Apply a stage's kept changes to the real tree (journaled).",
        discussion: """
            For stages whose changes were kept (`on_success: keep`, `on_failure: keep`), or \
            not applied because of a conflict. A path that changed in the real tree since the \
            stage started is a conflict: nothing is applied and both versions are printed; \
            --force applies the stage's version anyway.

            Example:
              sandlock-jobs commit latest build --in jobs/build.yaml
            """
    )

    @OptionGroup var target: StageChangesTarget

    @Flag(help: "Apply over paths that changed in the real tree since the stage started.")
    var force = false

    func run() throws {
        let (directory, loaded, stage, changes) = try target.load()
        var run = loaded, record = stage
        let workspaces = try target.keptWorkspaces(run, changes, verb: "commit")
        if let leftOut = changes.leftOut, !force {
            throw fail("the kept changes of stage '\(target.stage)' lack those of \(leftOut.joined(separator: ", ")), which conflicted with other processes of the stage (see `sandlock-jobs show`); run the stage again, or apply only what was kept with --force")
        }
        let result = StageSettlement.settleKept(&record, workspaces, .commit(overwriting: force), run: run)
        writeRecords(record, in: directory, run: &run)
        let settled = record.changes ?? changes
        if settled.outcome == .failed {
            throw fail(settled.message ?? "the commit failed")
        }
        if let conflicts = settled.conflicts, settled.outcome == .conflict {
            printError("sandlock-jobs: error: nothing applied: \(conflicts.count) path\(conflicts.count == 1 ? "" : "s") changed in the real tree since stage '\(target.stage)' started:\n")
            for c in conflicts {
                printError("  \(c.path): \(c.reason)\n    real tree:  \(c.theirs ?? "absent")\n    this stage: \(c.ours ?? "absent")\n")
            }
            printError("  look at both versions, then: sandlock-jobs commit --force … (the stage's version wins), or discard\n")
            throw ExitCode.failure
        }
        printError("sandlock-jobs: committed \(result.committed) change\(result.committed == 1 ? "" : "s") of stage '\(target.stage)' to \(run.workdir)\n")
    }
}

struct DiscardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discard",
        abstract: "Throw a stage's kept changes away; the real tree stays as it is.",
        discussion: """
            Example:
              sandlock-jobs discard latest build --in jobs/build.yaml
            """
    )

    @OptionGroup var target: StageChangesTarget

    func run() throws {
        let (directory, loaded, stage, changes) = try target.load()
        var run = loaded, record = stage
        let workspaces = try target.keptWorkspaces(run, changes, verb: "discard")
        let result = StageSettlement.settleKept(&record, workspaces, .discard, run: run)
        if let refused = result.refused { throw fail(refused) }
        writeRecords(record, in: directory, run: &run)
        printError("sandlock-jobs: discarded the changes of stage '\(target.stage)'\n")
    }
}

struct RecoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Complete commits a crash interrupted, and list the workspaces left in storage.",
        discussion: """
            A commit writes its plan (journal) before it touches the tree; after a crash or a \
            kill, recover replays it, so each tree ends with all of the stage's changes, never \
            a part. The next run over the same tree does this on its own. Only journals the \
            storage wrote (tagged with its key) are replayed; anything else in the storage is \
            listed as refused and left alone. A journal that can no longer apply (the tree \
            changed under it) is set aside and its workspace kept as failed.

            Recover looks at the workspaces of one workdir (and the trees below it): the one of \
            --in (a manifest or a directory, default the current directory); --all looks at \
            every workspace in the storage, whichever project made it.

            Kept workspaces (and those in conflict) wait for `sandlock-jobs commit|discard`. \
            An "orphaned" one belonged to a runner that was killed mid-stage; --prune removes \
            those (the real tree never saw their changes).

            Examples:
              sandlock-jobs recover
              sandlock-jobs recover --prune --in jobs/build.yaml
              sandlock-jobs recover --all
            """
    )

    @Option(help: ArgumentHelp("Where the workspaces live (default: the engine's, as for run).", valueName: "DIR"))
    var fsStorage: String?

    @Option(name: .customLong("in"), help: ArgumentHelp("A manifest or a workdir: only its workspaces (default: the current directory).", valueName: "PLACE"))
    var place: String = "."

    @Flag(help: "Every workspace in the storage, of any workdir.")
    var all = false

    @Flag(help: "Remove orphaned workspaces (their runner was killed before settling them).")
    var prune = false

    /// The workdir whose workspaces are meant (canonical), or nil for all of them.
    func scope() throws -> String? {
        guard !all else { return nil }
        var info = stat()
        let directory = stat(place, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR ? place : try loadPlan(place).workdir
        guard let resolved = realpath(directory, nil) else { return directory }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    func run() throws {
        let scope = try scope()
        let inScope = { (workspace: Workspace) in
            scope.map { workspace.workdir == $0 || $0 == "/" || workspace.workdir.hasPrefix($0 + "/") } ?? true
        }
        var failure: String?
        let completed: [Workspace]
        do { completed = try Workspace.recover(storage: fsStorage, workdir: scope) } catch {
            completed = []
            failure = "\(error)"
        }
        for workspace in completed { print("completed  \(workspace.workdir)  (\(workspace.directory))") }
        let left = Workspace.list(storage: fsStorage).filter(inScope)
        for workspace in left {
            if workspace.isOrphaned && prune {
                do { try workspace.discard() } catch {
                    throw fail("\(error)")
                }
                print("pruned     \(workspace.workdir)  (\(workspace.directory))")
            } else {
                print("\(workspace.isOrphaned ? "orphaned" : workspace.status)  \(workspace.workdir)  (\(workspace.directory))")
            }
        }
        // Not this storage's: never replayed, opened or pruned (their workdir is not known).
        for entry in Workspace.refused(storage: fsStorage) {
            print("refused    \(entry.directory)")
            printError("sandlock-jobs: warning: \(entry.reason)\n")
        }
        if let failure { throw fail(failure) }
        if completed.isEmpty && left.isEmpty {
            let location = fsStorage ?? Workspace.defaultStorage
            printError("sandlock-jobs: no interrupted commits and no workspaces in \(location)\(scope.map { " for \($0) (--all: every workdir)" } ?? "")\n")
        }
    }
}

/// Writes the settled stage's record, then the run's with its new status
/// (`RunDirectory.record(_:in:)`: a run that is over gets its overall status recomputed).
private func writeRecords(_ record: StageRecord, in directory: RunDirectory, run: inout RunRecord) {
    do {
        try directory.record(record, in: &run)
    } catch {
        printError("sandlock-jobs: warning: the run records were not updated: \(error)\n")
    }
}
