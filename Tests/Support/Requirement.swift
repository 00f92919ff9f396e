import CSandlock
import Foundation
import SandlockCore
#if canImport(Testing)
import Testing
#endif

/// One thing a test needs from the machine (a kernel feature, a sysctl, root), probed once.
/// `missing` says what is absent and why, in words a reader of the skip reason can act on.
public struct Requirement: Sendable, CustomStringConvertible {
    public let name: String
    public let missing: String?

    public var available: Bool { missing == nil }
    public var description: String { missing.map { "\(name): \($0)" } ?? "\(name): available" }

    public init(_ name: String, missing: String?) {
        self.name = name
        self.missing = missing
    }

    /// Landlock at `abi` or later, for `feature` (what the test exercises).
    public static func landlock(_ abi: Int, _ feature: String) -> Requirement {
        let have = Landlock.abi
        return Requirement("Landlock ABI \(abi)+ (\(feature))",
                           missing: have >= abi ? nil : (have == 0 ? "this kernel has no Landlock" : "this kernel has Landlock ABI \(have)"))
    }

    /// A default sandbox: Landlock ABI 6 (every ruleset scopes signals and abstract sockets),
    /// a seccomp filter and pidfds. Every `Sandbox.run` without `allow_degraded` needs these.
    public static let sandbox: [Requirement] = [
        landlock(6, "a default sandbox scopes signals and abstract unix sockets"),
        feature("seccomp filter"),
        feature("pidfd"),
    ]

    /// SECCOMP_RET_USER_NOTIF (Linux 5.6): the supervisor (limits, /proc, network, time).
    public static let seccompUserNotification = feature("seccomp user notification")

    /// pidfd_getfd (Linux 5.6): the supervisor's on-behalf connects and socket checks.
    public static let pidfdGetfd: Requirement = {
        let pidfd = csl_pidfd_open(getpid())
        guard pidfd >= 0 else { return Requirement("pidfd_getfd", missing: "pidfd_open failed: \(String(cString: strerror(errno)))") }
        defer { close(pidfd) }
        let copy = csl_pidfd_getfd(pidfd, 0)
        let error = errno
        if copy >= 0 { close(copy) }
        return Requirement("pidfd_getfd", missing: copy >= 0 ? nil : "pidfd_getfd(self, 0) failed: \(String(cString: strerror(error))) (needs Linux 5.6)")
    }()

    /// overlayfs in /proc/filesystems (copy-on-write workspaces).
    public static let overlayfs: Requirement = {
        let filesystems = (try? String(contentsOfFile: "/proc/filesystems", encoding: .utf8)) ?? ""
        let listed = filesystems.split(separator: "\n").contains { $0.hasSuffix("\toverlay") }
        // A module not yet loaded is loaded on first mount: trust modprobe's directory too.
        let module = FileManager.default.fileExists(atPath: "/sys/module/overlay")
        return Requirement("overlayfs", missing: listed || module ? nil : "overlay is not in /proc/filesystems (modprobe overlay)")
    }()

    /// Unprivileged user namespaces (sysctls), whoever the caller is: tests that switch to
    /// the user nobody and mount workspace overlays need them even when started as root.
    public static let unprivilegedUserNamespaces: Requirement = {
        func sysctl(_ path: String) -> Int? {
            (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        let name = "unprivileged user namespaces"
        if sysctl("/proc/sys/user/max_user_namespaces") == 0 { return Requirement(name, missing: "sysctl user.max_user_namespaces is 0") }
        if sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0 { return Requirement(name, missing: "sysctl kernel.unprivileged_userns_clone is 0") }
        if sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1 {
            return Requirement(name, missing: "sysctl kernel.apparmor_restrict_unprivileged_userns is 1")
        }
        return Requirement(name, missing: nil)
    }()

    /// A caller without root mounts workspace overlays in its own user namespace; root
    /// mounts them directly.
    public static let userNamespaceForOverlays: Requirement =
        geteuid() == 0 ? Requirement("overlay mounts as root", missing: nil) : unprivilegedUserNamespaces

    /// Copy-on-write workspaces: overlayfs, and a user namespace when not root.
    public static let workspaces: [Requirement] = sandbox + [overlayfs, userNamespaceForOverlays]

    /// The caller is root (tests that switch to another user, or check dropped capabilities).
    public static let root = Requirement("root", missing: geteuid() == 0 ? nil : "running as uid \(geteuid())")

    private static let kernel = KernelSupport.probe()

    /// max_processes enforced by the kernel (a pids cgroup, or RLIMIT_NPROC in a user
    /// namespace), not by the supervisor's trap.
    public static let kernelProcessLimit = Requirement(
        "max_processes by the kernel", missing: kernel.processLimit.inKernel ? nil : kernel.processLimit.mechanism)

    /// A feature as `sandlock check` reports it.
    private static func feature(_ name: String) -> Requirement {
        guard let feature = kernel.features.first(where: { $0.name == name }) else {
            return Requirement(name, missing: "not probed by KernelSupport")
        }
        return Requirement(name, missing: feature.available ? nil : "missing (\(feature.detail))")
    }
}

// `swift build -c release` builds this target without the Testing module (it comes with
// --build-tests): the traits exist only where tests are built.
#if canImport(Testing)
/// Skips a test or suite whose requirements are missing, printing each missing one; under
/// SANDLOCK_REQUIRE_ALL=1 (CI) the test runs its scope instead and fails, naming them.
public struct RequirementTrait: TestTrait, SuiteTrait, TestScoping {
    public let requirements: [Requirement]

    public var missing: [Requirement] { requirements.filter { !$0.available } }
    public var isRecursive: Bool { true }
    public var comments: [Comment] { missing.isEmpty ? [] : [Comment(rawValue: reason)] }

    var reason: String { "missing: " + missing.map(\.description).joined(separator: "; ") }

    public func prepare(for test: Test) async throws {
        // Outside CI a missing requirement is a skip with the reason (ConditionTrait reports it).
        guard !missing.isEmpty, !Fixture.requireAll else { return }
        try await ConditionTrait.enabled(if: false, Comment(rawValue: reason)).prepare(for: test)
    }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        if missing.isEmpty || !Fixture.requireAll { return try await function() }
        Issue.record("required by SANDLOCK_REQUIRE_ALL=1 but unavailable: \(reason)", sourceLocation: test.sourceLocation)
    }
}

extension Fixture {
    /// Set by CI: a test that would be skipped for a missing feature fails instead.
    public static let requireAll = ProcessInfo.processInfo.environment["SANDLOCK_REQUIRE_ALL"] == "1"

    /// A trait that skips (or, under SANDLOCK_REQUIRE_ALL=1, fails) when any of `requirements`
    /// is missing: `@Suite(…, Fixture.needs(Requirement.sandbox + [.seccompUserNotification]))`.
    public static func needs(_ requirements: [Requirement]) -> RequirementTrait {
        RequirementTrait(requirements: requirements)
    }

    public static func needs(_ requirements: Requirement...) -> RequirementTrait {
        RequirementTrait(requirements: requirements)
    }
}
#endif

extension Requirement {
    /// The syscalls of Linux 6.8–6.17 that libseccomp 2.5.4 cannot name (file_getattr, the
    /// newest, stands for them): the kernel answers something else than ENOSYS.
    public static let newerSyscalls: Requirement = {
        let answer = (try? Fixture.runBare([Fixture.probe, "newer", "file_getattr", "/"]).stdout)?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "no answer"
        return Requirement("Linux 6.17 syscalls (file_getattr, setxattrat, listmount …)",
                           missing: answer == "ENOSYS" || answer == "no answer" ? "file_getattr outside a sandbox: \(answer) (needs Linux 6.17)" : nil)
    }()
}
