import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// Runs the test probe in a sandbox and returns its one-word verdict ("ok", "EPERM", …).
func probe(_ arguments: [String], policy: Policy = Fixture.basePolicy) async throws -> String {
    let result = try await Sandbox(policy: policy).run([Fixture.probe] + arguments)
    let verdict = result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    // Anything but a verdict is a broken probe run: show why in the failure.
    return verdict.isEmpty ? "no verdict (\(result.reason), stderr: \(result.stderrText))" : verdict
}

/// The probe's verdict outside any sandbox.
func probeBare(_ arguments: [String]) throws -> String {
    try Fixture.runBare([Fixture.probe] + arguments).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The positive control of a denial that answers EPERM: where our filter does not stop the
/// action, it must answer something else. `control` is a sandbox policy that lifts the rule
/// (an emptied deny list); for argument filters no policy can, and the action runs outside
/// any sandbox. When the kernel itself refuses the action to this user with EPERM (a
/// capability only root has, a sysctl), no control can tell our EPERM from the kernel's: the
/// control is skipped, and the reason printed.
func expectAllowedWithoutFilter(_ arguments: [String], liftedBy control: Policy? = nil,
                                sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let action = arguments.joined(separator: " ")
    var lifted: String?
    if let control {
        lifted = try await probe(arguments, policy: control)
        if lifted != "EPERM" { return }
    }
    let bare = try probeBare(arguments)
    if bare == "EPERM" {
        print("control skipped: '\(action)' answers EPERM for uid \(geteuid()) even outside any sandbox, so the filter's EPERM cannot be told from the kernel's (run as root for the full check)")
        return
    }
    if let lifted {
        Issue.record("control: '\(action)' with the rule lifted answered \(lifted) (outside any sandbox: \(bare))", sourceLocation: sourceLocation)
    }
}

extension Policy {
    func with(_ change: (inout Policy) -> Void) -> Policy {
        var copy = self
        change(&copy)
        return copy
    }
}
