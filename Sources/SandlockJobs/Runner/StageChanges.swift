import SandlockCore

/// `result.json` → `changes`: what a stage changed in its copy-on-write trees and what became
/// of it. The change set itself is `stages/<stage>/changes.json`, its diff `changes.diff`.
public struct StageChanges: Sendable, Codable, Hashable {
    public enum Outcome: String, Sendable, Codable, Hashable {
        /// Applied to the real tree.
        case committed
        /// Thrown away.
        case aborted
        /// Left on disk (`sandlock-jobs commit|discard RUN STAGE`).
        case kept
        /// A dry run: shown, stacked under the stages that need it, then thrown away.
        case previewed
        /// Not applied: see `conflicts`; the workspace is kept.
        case conflict
        /// The change set or the commit failed (`message`); the workspace is kept.
        case failed
    }

    /// `on_success` or `on_failure`, whichever the stage's end selected (in a dry run: what a
    /// real run would have done; nil in records written before dry runs kept it).
    public var disposition: Disposition?
    public var outcome: Outcome
    /// The copy-on-write trees: the workdir, and in a dry run every other written tree.
    public var trees: [String]
    public var added = 0, modified = 0, deleted = 0, renamed = 0
    /// Relative to the run directory.
    public var changesFile: String?
    public var diffFile: String?
    /// Workspace directories left on disk (kept, in conflict, failed).
    public var workspaces: [String]?
    public var conflicts: [ConflictEntry]?
    public var message: String?
    /// Processes of the stage whose changes are not in its workspace (they conflicted with
    /// another process of the stage): committing what is kept would apply only part of it.
    public var leftOut: [String]?

    public init(disposition: Disposition?, outcome: Outcome, trees: [String]) {
        self.disposition = disposition
        self.outcome = outcome
        self.trees = trees
    }

    /// Counts the kinds of `changes`.
    mutating func count(_ changes: ChangeSet) {
        for change in changes.changes {
            switch change.kind {
            case .added: added += 1
            case .modified: modified += 1
            case .deleted: deleted += 1
            case .renamed: renamed += 1
            }
        }
    }

    public var total: Int { added + modified + deleted + renamed }

    /// `committed`, `kept`, …; in a dry run what a real run would do: `would commit`.
    public var outcomeText: String {
        outcome == .previewed ? "would \((disposition ?? .commit).rawValue)" : outcome.rawValue
    }

    /// Something changed, or something went wrong: not a stage that wrote nothing.
    public var isWorthShowing: Bool { total > 0 || outcome == .conflict || outcome == .failed }

    /// `3 added, 1 deleted`, or `no changes`.
    public var countText: String {
        let parts = [(added, "added"), (modified, "modified"), (deleted, "deleted"), (renamed, "renamed")]
            .filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }
        return parts.isEmpty ? "no changes" : parts.joined(separator: ", ")
    }

    enum CodingKeys: String, CodingKey {
        case disposition, outcome, trees, added, modified, deleted, renamed, workspaces, conflicts, message
        case leftOut = "left_out"
        case changesFile = "changes_file", diffFile = "diff_file"
    }
}

/// A path a stage could not apply.
public struct ConflictEntry: Sendable, Codable, Hashable {
    /// Relative to the workdir, or absolute for other trees.
    public var path: String
    public var reason: String
    /// The other stage that changed the path, for conflicts between parallel stages.
    public var stage: String?
    /// The two versions: the real tree's (or the other stage's) and this stage's, as
    /// `FileEntry.summary` says (`file 644 12 bytes sha256 …`) or `absent`.
    public var theirs: String?
    public var ours: String?

    init(path: String, reason: String, stage: String? = nil, theirs: FileEntry?, ours: FileEntry?) {
        self.path = path
        self.reason = reason
        self.stage = stage
        self.theirs = theirs?.summary ?? "absent"
        self.ours = ours?.summary ?? "absent"
    }
}
