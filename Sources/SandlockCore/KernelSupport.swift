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
        let seccomp = features.contains { $0.name == "seccomp filter" && $0.available }
        features += hardening(abi: abi, seccomp: seccomp)
        let notify = features.contains { $0.name == "seccomp user notification" && $0.available }
        features += supervised(abi: abi, supervisor: notify && pidfdGetfdAvailable(), inRoot: openat2InRootAvailable())
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
            Feature(name: "raw devices out of tree grants", available: abi >= 1,
                    detail: "Landlock: a grant covering /dev reaches null, zero, full, random, urandom, tty, ptmx, pts only; block devices never granted"),
            Feature(name: "newer syscalls refused by number", available: seccomp,
                    detail: "BPF by number: setxattrat, removexattrat, file_setattr, statmount, listmount, lsm_set_self_attr (libseccomp 2.5.4 cannot name them)"),
            Feature(name: "inode flag ioctls denied", available: seccomp,
                    detail: "BPF on ioctl: FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR, SETVERSION, ENABLE_VERITY, SET_ENCRYPTION_POLICY"),
            Feature(name: "tcp fast open denied", available: seccomp, detail: "BPF on MSG_FASTOPEN of sendto, sendmsg, sendmmsg"),
            Feature(name: "no_supervisor fails closed", available: seccomp,
                    detail: "BPF without a supervisor: metadata calls and AF_UNIX sockets EPERM"),
            Feature(name: "workspace storage out of reach", available: true,
                    detail: "grants covering the storage refused; records and journals authenticated (HMAC-SHA256)"),
        ]
    }

    /// Protections the supervisor makes (seccomp user notification, pidfd_getfd): what Landlock
    /// ABI ≤ 8 leaves to it (see docs/security.md). A sandbox with `no_supervisor` fails
    /// closed for each (denied by BPF instead).
    private static func supervised(abi: Int, supervisor: Bool, inRoot: Bool) -> [Feature] {
        [
            Feature(name: "unix socket gate", available: supervisor,
                    detail: "supervisor: connect, sendto, listen trapped and made on behalf (Landlock ABI \(abi) has no RESOLVE_UNIX)"),
            Feature(name: "datagram destinations checked", available: supervisor,
                    detail: "supervisor: sendto with an address on every socket; datagram sockets on stdio refused unless sendmsg is gated"),
            Feature(name: "file metadata gate", available: supervisor && inRoot,
                    detail: "supervisor: chmod, chown, times, xattrs checked against the write grants (openat2 RESOLVE_IN_ROOT)"),
            Feature(name: "on-behalf opens judged", available: supervisor,
                    detail: "supervisor: /proc/<pid>/fd reopens judged by inode against the grants, on a worker"),
            Feature(name: "other processes' scheduling", available: supervisor,
                    detail: "supervisor: sched_setaffinity, sched_setscheduler, setpriority, ioprio_set on a pid outside the tree EPERM"),
            Feature(name: "memory accounting", available: supervisor,
                    detail: "supervisor: brk, mmap, mremap trapped; data, stack and shared memory from /proc"),
        ]
    }

    /// pidfd_getfd of one of our own descriptors (Linux 5.6).
    private static func pidfdGetfdAvailable() -> Bool {
        let pidfd = csl_pidfd_open(getpid())
        guard pidfd >= 0 else { return false }
        let process = FileDescriptor(adopting: pidfd)
        let copy = csl_pidfd_getfd(process.rawValue, process.rawValue)
        guard copy >= 0 else { return false }
        _ = FileDescriptor(adopting: copy)  // closed at once
        return true
    }

    /// openat2 with RESOLVE_IN_ROOT (Linux 5.6).
    private static func openat2InRootAvailable() -> Bool {
        guard let root = try? FileDescriptor(opening: "/", flags: CSL_O_PATH | O_DIRECTORY) else { return false }
        return (try? FileDescriptor(opening: ".", in: root, flags: CSL_O_PATH, resolve: FileDescriptor.resolveInRoot)) != nil
    }

    private static func pidfdAvailable() -> Bool {
        let fd = csl_pidfd_open(getpid())
        guard fd >= 0 else { return false }
        _ = FileDescriptor(adopting: fd)  // closed at once
        return true
    }
}
