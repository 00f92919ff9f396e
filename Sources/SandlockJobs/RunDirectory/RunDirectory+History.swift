import FoundationEssentials
import SandlockSystem

extension RunDirectory {
    /// Whether `folder` is itself a runs root: it has a `latest` link or a run directory
    /// with a `run.json` (not a folder whose subfolders merely look like runs).
    public static func holdsRuns(_ folder: String) -> Bool {
        RunFiles.readSymlink(latestLink(root: folder)) != nil || list(root: folder).contains { RunFiles.exists($0.runRecordPath) }
    }

    /// What `runs prune` did: the runs removed, and the old runs it left with the reason.
    public struct Pruning: Sendable {
        public var removed: [String] = []
        public var spared: [(run: String, reason: String)] = []
    }

    /// Removes the runs under `root` (of `manifest` only, when given) past the newest `keep`
    /// or started before `cutoff` (either one suffices). Never a run whose runner still runs,
    /// nor one with a kept workspace (its changes could no longer be committed or discarded);
    /// `latest` is pointed at the newest run left.
    public static func prune(root: String, manifest: String?, keep: Int?, startedBefore cutoff: Date?) -> Pruning {
        var result = Pruning()
        var position = 0
        for run in list(root: root) {
            guard let record = try? run.readRunRecord() else { continue }  // not a run: not ours to remove
            if let manifest, record.manifest != manifest { continue }
            position += 1
            guard keep.map({ position > $0 }) == true || cutoff.map({ record.started < $0 }) == true else { continue }
            if record.status == .running {
                result.spared.append((run.id, "its runner is still running"))
                continue
            }
            let holding = record.stages.first { entry in
                guard let changes = run.readStageRecord(entry.name)?.changes else { return false }
                return changes.workspaces?.isEmpty == false && [.kept, .conflict, .failed].contains(changes.outcome)
            }
            if let holding {
                result.spared.append((run.id, "stage '\(holding.name)' kept its workspace: sandlock-jobs commit or discard it first"))
                continue
            }
            do {
                try Files.removeTree(run.path)
                result.removed.append(run.id)
            } catch {
                result.spared.append((run.id, "cannot remove it: \(error)"))
            }
        }
        let link = latestLink(root: root)
        if let target = RunFiles.readSymlink(link), result.removed.contains(target) {
            if let newest = list(root: root).first {
                try? RunFiles.pointSymlink(link, to: newest.id)
            } else {
                try? Files.removeTree(link)
            }
        }
        return result
    }
}
