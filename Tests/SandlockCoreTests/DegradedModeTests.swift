@testable import SandlockCore
import SandlockTestSupport
import Testing

/// A kernel with an older Landlock, simulated by building the ruleset for a lower ABI (the
/// running kernel accepts the older, smaller ruleset).
@Suite("degraded mode", Fixture.needs(.landlock(6, "the running kernel accepts rulesets built for older ABIs")))
struct DegradedModeTests {
    @Test("a protection the kernel lacks is an error naming it and what it leaves open")
    func missingProtectionIsAnError() throws {
        let error = #expect(throws: SandboxError.self) { _ = try LandlockRuleset(policy: Fixture.basePolicy, abi: 3) }
        let text = error?.description ?? ""
        #expect(text.contains("Landlock net_tcp") && text.contains("ABI 4") && text.contains("TCP bind and connect would not be restricted"))
        #expect(text.contains("--allow-degraded"))
    }

    @Test("with allow_degraded the ruleset records what it could not enforce")
    func degradedRecordsTheGaps() throws {
        let ruleset = try LandlockRuleset(policy: Fixture.basePolicy.with { $0.allowDegraded = true }, abi: 3)
        #expect(ruleset.missing == [.netTCP, .fsIoctlDev, .abstractUnixSocketScope, .signalScope])
        #expect(ruleset.enforced == [.filesystem, .fsRefer, .fsTruncate])
    }

    @Test("no Landlock at all is refused even in degraded mode")
    func noLandlock() {
        #expect(throws: SandboxError.self) {
            _ = try LandlockRuleset(policy: Fixture.basePolicy.with { $0.allowDegraded = true }, abi: 0)
        }
    }
}
