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
