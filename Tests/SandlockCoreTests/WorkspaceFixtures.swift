import Foundation
@testable import SandlockCore
import SandlockTestSupport

func workspacePolicy(tree: String, storage: String) -> Policy {
    Fixture.basePolicy.with {
        $0.fsWritable = [tree]
        $0.workdir = tree
        $0.fsStorage = storage
        $0.env["PROBE"] = Fixture.probe
    }
}

/// The change set `workspaceWorkload` leaves as root (overlayfs with redirect_dir=off: a
/// renamed directory is a copy), one summary line each.
let workspaceWorkloadSummary: Set<String> = [
    "D gone.txt", "R old-name.txt -> new-name.txt", "R dir-a/one.txt -> dir-b/one.txt",
    "R dir-a/two/three.txt -> dir-b/two/three.txt", "D dir-a", "D dir-a/two", "A dir-b", "A dir-b/two",
    "D nested", "D nested/a", "D nested/a/b", "D nested/a/b/c", "D nested/a/b/c/deep.txt", "D nested/a/x.txt",
    "D nested/y.txt", "M mode.txt", "A link", "M truncate.txt", "M excl.txt", "A run.sh", "A ran.txt",
    "M modify.txt", "A brand", "A brand/new", "A brand/new/file.txt",
]

/// A change set's summary as a set of lines (empty for nil).
func summaryLines(_ changes: ChangeSet?) -> Set<String> {
    Set(changes?.summary.split(separator: "\n").map(String.init) ?? [])
}
