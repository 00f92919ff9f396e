import CSandlock
import Foundation
@testable import SandlockCore
import SandlockTestSupport
import Testing

/// `max_processes` enforced by the kernel (issue 20, item 9): a pids cgroup per sandbox where
/// the caller can create one (root here and in CI), RLIMIT_NPROC in a user namespace of its
/// own for an unprivileged caller (nobody, through setpriv), the supervisor's trap only where
/// neither is possible. Escapes: the sandbox raising its own limit or leaving its cgroup.
@Suite("max_processes in the kernel: pids cgroup, user namespace, cleanup, escapes",
       Fixture.needs(Requirement.sandbox))
struct ProcessLimitTests {
    static let pidsCgroup: Requirement = {
        switch PidsCgroupHierarchy.current {
        case .success: Requirement("pids cgroup", missing: nil)
        case .failure(let problem): Requirement("pids cgroup", missing: problem.reason)
        }
    }()
    static var hierarchy: PidsCgroupHierarchy? { try? PidsCgroupHierarchy.current.get() }
    /// -P 10 with /proc and /sys readable: the sandbox can find and read its cgroup's files.
    private let policy = Fixture.basePolicy.with {
        $0.maxProcesses = 10
        $0.fsReadable += ["/proc", "/sys"]
    }

    /// The cgroup directory a sandboxed `grep pids /proc/self/cgroup` printed.
    private func cgroupDirectory(_ line: Substring, in hierarchy: PidsCgroupHierarchy) -> String {
        hierarchy.mountPoint + (line.split(separator: ":", maxSplits: 2).last.map(String.init) ?? "")
    }

    @Test("each sandbox runs in a pids cgroup of its own with pids.max N+1 (init), removed after the run",
          Fixture.needs(pidsCgroup))
    func ownCgroupRemovedAfterwards() async throws {
        let hierarchy = try #require(Self.hierarchy)
        #expect(ProcessLimit.mechanism(for: policy) == .pidsCgroup(hierarchy))
        let script = "grep pids /proc/self/cgroup; cat /sys/fs/cgroup/pids$(grep pids /proc/self/cgroup | cut -d: -f3)/pids.max"
        async let first = Sandbox(policy: policy).run(["/bin/sh", "-c", script])
        async let second = Sandbox(policy: policy).run(["/bin/sh", "-c", script])
        var directories: Set<String> = []
        for result in try await [first, second] {
            let lines = result.stdoutText.split(separator: "\n")
            #expect(result.success && lines.count == 2 && lines.last == "11", "\(result.stdoutText) \(result.stderrText)")
            let directory = cgroupDirectory(try #require(lines.first), in: hierarchy)
            #expect(directory.hasPrefix(hierarchy.base + "/\(getpid())-"))
            #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) is left after the run")
            #expect(result.enforcement.enforced.contains("max_processes") && !SupervisorFeatures(policy).processLimit)
            directories.insert(directory)
        }
        #expect(directories.count == 2, "two sandboxes, two cgroups")
        // Control: without max_processes the sandbox stays in the caller's cgroup.
        let free = try await Sandbox(policy: Fixture.basePolicy.with { $0.fsReadable.append("/proc") })
            .run(["/bin/grep", "pids", "/proc/self/cgroup"])
        #expect(!free.stdoutText.contains("/sandlock/"), "\(free.stdoutText)")
    }

    @Test("the sandbox can neither raise its pids.max nor move itself out of its cgroup",
          Fixture.needs(pidsCgroup))
    func cgroupEscapes() async throws {
        let hierarchy = try #require(Self.hierarchy)
        // Every way out: raise the limit, join the parent or the root cgroup (cgroup.procs,
        // and v1's per-thread `tasks`), make a sub-cgroup. A capability-less root passes the
        // kernel's own checks on these root-owned 0644 files: Landlock is what refuses.
        let own = "/sys/fs/cgroup/pids$(grep pids /proc/self/cgroup | cut -d: -f3)"
        let attempts = [
            "echo max > \(own)/pids.max", "echo 0 > \(own)/../cgroup.procs", "echo 0 > \(hierarchy.mountPoint)/cgroup.procs",
            "echo $$ > \(hierarchy.mountPoint)/tasks", "echo 0 > \(hierarchy.base)/cgroup.procs", "mkdir \(own)/inner",
        ]
        let script = attempts.map { "if { \($0); } 2>/dev/null; then echo escaped: '\($0)'; fi" }.joined(separator: "; ")
            + "; cat \(own)/pids.max; exec \(Fixture.probe) forkbomb 100"
        let result = try await Sandbox(policy: policy).run(["/bin/sh", "-c", script])
        // Control: the files are there and readable; the limit still holds after the attempts.
        #expect(result.stdoutText == "11\nforked 9 EAGAIN\n", "\(result.stdoutText) \(result.stderrText)")
        // Control: outside the sandbox the same writes work (a cgroup of the test's own).
        let control = hierarchy.base + "/\(getpid())-control"
        #expect(mkdir(control, 0o755) == 0)
        defer { rmdir(control) }
        let limit = try FileDescriptor(opening: control + "/pids.max", flags: O_WRONLY)
        try limit.writeAll("5")
        #expect(try Files.readText(control + "/pids.max") == "5\n")
    }

    @Test("a write grant over the cgroup filesystem falls back to the supervisor's trap, which still bounds forks",
          Fixture.needs(pidsCgroup, .seccompUserNotification))
    func writableCgroupFallsBack() async throws {
        let policy = Fixture.basePolicy.with {
            $0.maxProcesses = 10
            $0.fsReadable.append("/proc")
            $0.fsWritable = ["/sys/fs/cgroup"]
        }
        #expect(ProcessLimit.mechanism(for: policy) == (getuid() == 0 ? .supervisor : .userNamespace))
        // A grant into the hierarchy (the sandbox's own cgroup is below it) counts the same.
        let hierarchy = try #require(Self.hierarchy)
        #expect(ProcessLimit.mechanism(for: policy.with { $0.fsWritable = [hierarchy.base] }) == ProcessLimit.mechanism(for: policy))
        // Control: a grant beside it (/tmp) leaves the cgroup in use.
        #expect(ProcessLimit.mechanism(for: policy.with { $0.fsWritable = ["/tmp"] }) == .pidsCgroup(hierarchy))
        let result = try await Sandbox(policy: policy).run(["/bin/sh", "-c", "grep pids /proc/self/cgroup; exec \(Fixture.probe) forkbomb 50"])
        #expect(!result.stdoutText.contains("/sandlock/") && result.stdoutText.hasSuffix("forked 9 EAGAIN\n"), "\(result.stdoutText)")
        if getuid() == 0 { #expect(result.supervisorNotifications >= 10) }
    }

    @Test("a killed runner leaves an empty cgroup, which the next process's probe removes",
          Fixture.needs(pidsCgroup, .root))
    func killedRunnerLeftovers() throws {
        let hierarchy = try #require(Self.hierarchy)
        let runner = Process()
        runner.executableURL = URL(fileURLWithPath: Fixture.sandlockCLI)
        runner.arguments = ["run", "-P", "5", "-r", "/proc"] + Fixture.readablePaths.flatMap { ["-r", $0] }
            + ["--", "/bin/sh", "-c", "grep pids /proc/self/cgroup; echo $PPID; exec sleep 1000"]
        let output = Pipe()
        runner.standardOutput = output
        try runner.run()
        defer { if runner.isRunning { kill(runner.processIdentifier, SIGKILL); runner.waitUntilExit() } }
        // Two lines: the cgroup, then init's pid (the shell's parent).
        var text = ""
        while text.filter({ $0 == "\n" }).count < 2 {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        let lines = text.split(separator: "\n")
        let directory = cgroupDirectory(try #require(lines.first), in: hierarchy)
        let initPID = try #require(lines.count == 2 ? pid_t(lines[1]) : nil, "\(text)")
        let initFD = csl_pidfd_open(initPID)
        try #require(initFD >= 0)
        defer { close(initFD) }
        kill(runner.processIdentifier, SIGKILL)
        runner.waitUntilExit()
        // init sees its control pipe's EOF, kills the tree and exits.
        var watched = pollfd(fd: initFD, events: Int16(POLLIN), revents: 0)
        while poll(&watched, 1, -1) < 0 && errno == EINTR {}
        #expect(FileManager.default.fileExists(atPath: directory), "nobody removed it: the runner was killed")
        hierarchy.pruneLeftovers()
        #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) survived the pruning")
    }

    @Test("a pids cgroup that cannot be made is a clear error naming the field")
    func missingCgroupIsAnError() throws {
        let missing = PidsCgroupHierarchy(version: .v1, mountPoints: ["/nonexistent"], base: "/nonexistent/sandlock")
        let error = #expect(throws: SandboxError.self) { _ = try PidsCgroup(in: missing, tasks: 11) }
        guard case let .kernelFeatureMissing(feature, detail, field)? = error else {
            Issue.record("\(String(describing: error))")
            return
        }
        #expect(feature == "pids cgroup" && field == "max_processes")
        #expect(detail.hasPrefix("cannot create /nonexistent/sandlock/\(getpid())-"), "\(detail)")
    }

    // MARK: As nobody: RLIMIT_NPROC in a user namespace

    private func runAsNobody(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try Fixture.runBare(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", Fixture.sandlockCLI, "run"]
                            + Fixture.readablePaths.flatMap { ["-r", $0] } + arguments)
    }

    @Test("as nobody: fork and thread bombs under -P 20 stop at 20 tasks, pipelines never fail, the limit cannot be raised",
          Fixture.needs(.root, .unprivilegedUserNamespaces))
    func asNobody() throws {
        #expect(try runAsNobody(["-P", "20", "--", Fixture.probe, "forkbomb", "1000"]).stdout == "forked 19 EAGAIN\n")
        #expect(try runAsNobody(["-P", "20", "--", Fixture.probe, "thread-bomb", "1000"]).stdout == "threads 19 EAGAIN\n")
        // Controls: no limit, no bound.
        #expect(try runAsNobody(["--", Fixture.probe, "forkbomb", "100"]).stdout == "forked 100 none\n")
        #expect(try runAsNobody(["--", Fixture.probe, "thread-bomb", "1000"]).stdout == "threads 1000 none\n")
        var failures: [String] = []
        for _ in 0..<50 {
            let run = try runAsNobody(["-P", "16", "--", "/bin/sh", "-c", "echo a | cat"])
            if run.status != 0 || run.stdout != "a\n" { failures.append(run.stderr) }
        }
        #expect(failures.isEmpty, "\(failures.count) of 50 failed: \(failures.prefix(3))")
        // The supervisor still takes the listener of a command in its own user namespace.
        let supervised = try runAsNobody(["-P", "20", "-m", "1G", "--random-seed", "7", "--", "/bin/sh", "-c", "echo a | cat; head -c 8 /dev/urandom | wc -c"])
        #expect(supervised.stdout.split(whereSeparator: \.isWhitespace) == ["a", "8"], "\(supervised)")
        // The escape: raise the limit (bash's ulimit is setrlimit on itself; the hard limit
        // only goes up with CAP_SYS_RESOURCE in the initial namespace).
        let raise = try runAsNobody(["-P", "20", "--", "/bin/bash", "-c", "ulimit -u; ulimit -u 5000 2>/dev/null || echo refused; exec \(Fixture.probe) forkbomb 100"])
        #expect(raise.stdout == "21\nrefused\nforked 19 EAGAIN\n", "\(raise)")
        // What the user namespace shows the program: its own uid and gid, identity-mapped.
        let identity = try runAsNobody(["-P", "5", "-r", "/proc", "--", "/bin/sh", "-c", "id -u; id -g; cat /proc/self/uid_map"])
        #expect(identity.stdout.split(whereSeparator: \.isWhitespace) == ["65534", "65534", "65534", "65534", "1"], "\(identity)")
    }
}
