/// Why a sandbox could not be set up. Each case names the problem and what to do about it;
/// `description` is a one-line message fit for a CLI's stderr.
public enum SandboxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A path in the policy does not exist (or cannot be opened).
    case pathNotFound(path: String, field: String, error: Errno)
    /// The kernel lacks a feature the policy needs, and degraded mode was not allowed.
    case kernelFeatureMissing(feature: String, detail: String, field: String)
    /// A policy field this build does not enforce yet; never silently dropped.
    case unsupported(field: String, reason: String)
    /// The policy is inconsistent (unknown syscall name, bad value …).
    case invalidPolicy(String)
    /// argv[0] was not found in the sandbox's PATH.
    case commandNotFound(String)
    /// The child failed while confining itself or at exec, before the command ran.
    case childSetupFailed(step: ChildStep, error: Errno, path: String)
    /// The kernel refused the exec because the policy does not let the sandbox read
    /// `unreadable` (`role`: the program, its interpreter, an ELF loader).
    case execDenied(program: String, unreadable: String, role: String)
    /// A syscall in the parent failed.
    case systemCall(String, Errno)
    /// A copy-on-write workspace could not be created, read or committed.
    case workspace(String)

    public var description: String {
        switch self {
        case let .pathNotFound(path, field, error):
            "\(field): cannot open '\(path)': \(error); create it or remove it from the policy"
        case let .kernelFeatureMissing(feature, detail, field):
            "\(feature) is not available (\(detail)); policy field \(field). Use a newer kernel, or allow degraded mode (--allow-degraded) to run without it"
        case let .unsupported(field, reason):
            "\(field) is not supported: \(reason). Remove it, or allow degraded mode (--allow-degraded) to run without it"
        case let .invalidPolicy(message):
            "invalid policy: \(message)"
        case let .commandNotFound(name):
            "command not found: '\(name)' (not an executable file in the sandbox's PATH)"
        case let .childSetupFailed(step, error, path):
            step.explain(error: error, path: path)
        case let .execDenied(program, unreadable, role):
            "exec \(program) failed: EACCES: the sandbox may not read \(unreadable) (\(role)); grant read access to \(Self.directory(of: unreadable))"
        case let .systemCall(name, error):
            "\(name) failed: \(error)"
        case let .workspace(message):
            "workdir: \(message)"
        }
    }

    /// The directory to grant for an exec refused for a file the sandbox may not read, so
    /// each front end can say how in its own syntax (`-r DIR`, `filesystem.read: [DIR]`).
    public var directoryToGrant: String? {
        if case let .execDenied(_, unreadable, _) = self { return Self.directory(of: unreadable) }
        return nil
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }
}

/// Where the child was when it failed (mirrors `enum csl_step`).
public enum ChildStep: Int32, Sendable, CustomStringConvertible {
    case signals = 1, session, terminal, stdio, cwd, subreaper, noNewPrivileges, capabilities
    case landlock, signalfd, forkCommand, parentDeath, rlimit, personality, seccomp, exec
    case affinity, hugePages, listener, userNamespace, mount, cgroup

    public var description: String {
        switch self {
        case .signals: "signal setup"
        case .session: "setsid/setpgid"
        case .terminal: "tcsetpgrp"
        case .stdio: "stdio setup"
        case .cwd: "chdir"
        case .subreaper: "prctl(PR_SET_CHILD_SUBREAPER)"
        case .noNewPrivileges: "prctl(PR_SET_NO_NEW_PRIVS)"
        case .capabilities: "dropping capabilities"
        case .landlock: "landlock_restrict_self"
        case .signalfd: "signalfd"
        case .forkCommand: "clone of the command"
        case .parentDeath: "prctl(PR_SET_PDEATHSIG)"
        case .rlimit: "setrlimit"
        case .personality: "personality"
        case .seccomp: "seccomp(SECCOMP_SET_MODE_FILTER)"
        case .exec: "exec"
        case .affinity: "sched_setaffinity"
        case .hugePages: "prctl(PR_SET_THP_DISABLE)"
        case .listener: "handing the seccomp listener to the supervisor"
        case .userNamespace: "creating the sandbox's user namespace"
        case .mount: "mounting the workspace overlay"
        case .cgroup: "joining the sandbox's pids cgroup"
        }
    }

    func explain(error: Errno, path: String) -> String {
        switch (self, error) {
        case (.exec, .EACCES):
            "exec \(path) failed: \(error): the program, its interpreter and their ELF loader look readable, so a library they load is likely outside the readable paths (`ldd \(path)` lists them)"
        case (.exec, .ENOENT):
            "exec \(path) failed: \(error): the program or its interpreter (#! line or ELF loader) does not exist"
        case (.userNamespace, _):
            "\(self) failed: \(error): unprivileged user namespaces are unavailable (check sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone and kernel.apparmor_restrict_unprivileged_userns); a copy-on-write workdir, and max_processes without a pids cgroup, need one when not root"
        case (.mount, _):
            "\(self) failed: \(error): the kernel refused the overlay over the workdir (needs overlayfs; the upper storage must support xattrs and sit outside the workdir)"
        case (.seccomp, .EBUSY):
            "\(self) failed: \(error): another seccomp listener already owns this process; run the outer sandbox with --no-supervisor"
        default:
            "\(self) failed in the sandbox child: \(error)"
        }
    }
}
