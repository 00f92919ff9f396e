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
    /// How `max_processes` is enforced here: by the kernel (a pids cgroup, or RLIMIT_NPROC in
    /// a user namespace) or, failing both, by the supervisor's trap of fork and clone.
    public var processLimit: (inKernel: Bool, mechanism: String)

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
        features += hardening(abi: abi, seccomp: features.contains { $0.name == "seccomp filter" && $0.available })
        let limit = ProcessLimit.machineDescription
        return KernelSupport(landlockABI: abi, features: features, processLimit: (limit.kernel, limit.detail))
    }

    /// Protections built from the mechanisms above (see docs/security.md, "Kernel layer").
    private static func hardening(abi: Int, seccomp: Bool) -> [Feature] {
        let mptcp = (try? Files.readText("/proc/sys/net/mptcp/enabled"))?.hasPrefix("1") == true
        return [
            Feature(name: "mptcp denied", available: seccomp,
                    detail: "BPF on socket's protocol; Landlock's TCP rules do not see MPTCP\(mptcp ? ", enabled on this kernel" : "")"),
            Feature(name: "socket families allowlist", available: seccomp,
                    detail: "BPF: AF_UNIX, AF_INET, AF_INET6, netlink route; no AF_VSOCK, SCTP, raw"),
            Feature(name: "prlimit64 on others denied", available: seccomp, detail: "BPF on prlimit64's pid and new limit"),
            Feature(name: "setuid/setgid bits, devices denied", available: seccomp, detail: "BPF on chmod, open and mknod modes"),
            Feature(name: "init out of the command's reach", available: abi >= Landlock.Protection.signalScope.minimumABI,
                    detail: "nested Landlock signal scope, ABI 6"),
            Feature(name: "kernel interfaces read-only", available: abi >= 1, detail: "/proc, /sys: Landlock read rights only"),
        ]
    }

    private static func pidfdAvailable() -> Bool {
        let fd = csl_pidfd_open(getpid())
        guard fd >= 0 else { return false }
        _ = FileDescriptor(adopting: fd)  // closed at once
        return true
    }
}
