import SandlockCore
import SandlockTestSupport

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

extension Policy {
    func with(_ change: (inout Policy) -> Void) -> Policy {
        var copy = self
        change(&copy)
        return copy
    }
}
