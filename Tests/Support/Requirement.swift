import Foundation
import SandlockCore
import Testing

extension Fixture {
    /// Set by CI: a test that would be skipped for a missing feature fails instead.
    public static let requireAll = ProcessInfo.processInfo.environment["SANDLOCK_REQUIRE_ALL"] == "1"

    /// The kernel offers every protection a default sandbox needs (Landlock ABI 6+, seccomp).
    public static let kernelComplete = KernelSupport.probe().complete

    /// Runs the test only when `available` (printing `reason` as the skip reason); under
    /// SANDLOCK_REQUIRE_ALL=1 it runs regardless and `require` records the failure.
    public static func needs(_ available: Bool, _ reason: Comment) -> ConditionTrait {
        .enabled(if: available || requireAll, reason)
    }

    /// First line of a test guarded by `needs`: fails it when the feature is missing.
    public static func require(_ available: Bool, _ reason: Comment) throws {
        if !available {
            Issue.record("required by SANDLOCK_REQUIRE_ALL=1 but unavailable: \(reason)")
            throw CancellationError()
        }
    }
}
