#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// What the running kernel offers, as `sandlock check` reports it.
public struct KernelSupport: Sendable {
    public struct Feature: Sendable {
        public var name: String
        public var available: Bool
        public var detail: String
    }

    public var landlockABI: Int
    public var features: [Feature]

    /// True when every protection a default policy needs is available.
    public var complete: Bool { features.allSatisfy(\.available) }

    public static func probe() -> KernelSupport {
        let abi = Landlock.abi
        var features = Landlock.Protection.allCases.map { protection in
            Feature(name: "landlock \(protection.rawValue)", available: abi >= protection.minimumABI,
                    detail: "Landlock ABI \(protection.minimumABI)")
        }
        features.append(Feature(name: "seccomp filter", available: csl_seccomp_action_available(CSL_SECCOMP_RET_ERRNO) != 0,
                                detail: "seccomp-bpf"))
        features.append(Feature(name: "seccomp user notification",
                                available: csl_seccomp_action_available(CSL_SECCOMP_RET_USER_NOTIF) != 0,
                                detail: "Linux 5.6"))
        features.append(Feature(name: "pidfd", available: pidfdAvailable(), detail: "pidfd_open, Linux 5.3"))
        return KernelSupport(landlockABI: abi, features: features)
    }

    private static func pidfdAvailable() -> Bool {
        let fd = csl_pidfd_open(getpid())
        guard fd >= 0 else { return false }
        _ = FileDescriptor(adopting: fd)  // closed at once
        return true
    }
}
