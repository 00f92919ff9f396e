import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// Runs the built `sandlock` binary (optionally as another user through setpriv).
private func sandlock(_ arguments: [String], asUser uid: Int? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
    var argv = [Fixture.sandlockCLI] + arguments
    if let uid {
        argv = ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--"] + argv
    }
    return try Fixture.runBare(argv)
}

private var readFlags: [String] { Fixture.readablePaths.flatMap { ["-r", $0] } }

private func trimmed(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }

@Suite("sandlock CLI", Fixture.needs(Requirement.sandbox + [.seccompUserNotification]))
struct SandlockCLITests {
    @Test("the command's exit code, 128+N for a signal, 124 for a timeout")
    func exitStatuses() throws {
        #expect(try sandlock(["run"] + readFlags + ["--", "/bin/sh", "-c", "exit 42"]).status == 42)
        #expect(try sandlock(["run"] + readFlags + ["-e", "kill -TERM $$"]).status == 143)
        let timeout = try sandlock(["run"] + readFlags + ["-t", "0.3", "--", "/bin/sleep", "30"])
        #expect(timeout.status == 124)
        #expect(timeout.stderr.contains("sandlock: timeout after 0.300s"))
        let echoed = try sandlock(["run"] + readFlags + ["--", "/bin/echo", "hello", "--not-a-flag"])
        #expect(echoed.status == 0 && echoed.stdout == "hello --not-a-flag\n")
    }

    @Test("setup failures exit 125 with a one-line reason", arguments: [
        (["-r", "/nonexistent/dir", "--", "/bin/true"], "fs_readable: cannot open '/nonexistent/dir'"),
        (["--bogus-flag", "--", "/bin/true"], "unknown option '--bogus-flag'"),
        (["--timeout", "soon", "--", "/bin/true"], "--timeout: expected a duration"),
        (["--", "no-such-command-xyz"], "command not found: 'no-such-command-xyz'"),
        (["--net-allow", "example.com", "--", "/bin/true"], "net_allow: 'example.com' has no port"),
        ([String](), "no command"),
    ])
    func setupFailures(arguments: [String], message: String) throws {
        let result = try sandlock(["run"] + readFlags + arguments)
        #expect(result.status == 125)
        #expect(result.stderr.contains(message), "stderr: \(result.stderr)")
    }

    @Test("exec of a binary outside the readable set names the cause")
    func execOutsideReadableSet() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            try FileManager.default.copyItem(atPath: "/bin/true", toPath: directory + "/true")
            let denied = try sandlock(["run"] + readFlags + ["--", directory + "/true"])
            let real = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
            #expect(denied.status == 125 && denied.stderr.contains("the sandbox may not read \(real)/true (the program)"), "\(denied.stderr)")
            #expect(denied.stderr.contains("(add -r \(real))"), "\(denied.stderr)")
            #expect(try sandlock(["run"] + readFlags + ["-r", directory, "--", directory + "/true"]).status == 0)
        }
    }

    @Test("check reports the Landlock ABI and each protection")
    func check() throws {
        let result = try sandlock(["check"])
        #expect(result.stdout.contains("Landlock ABI: \(Landlock.abi)"))
        #expect(result.stdout.contains("landlock signal_scope"))
        for protection in ["mptcp denied", "socket families allowlist", "prlimit64 on others denied",
                           "setuid/setgid bits, devices denied", "init out of the command's reach", "kernel interfaces read-only"] {
            #expect(result.stdout.contains(protection), "\(protection)")
        }
        // Each protection of docs/security.md has its line; on a machine the suites run on
        // (whose requirements they check) each one is enforced.
        let lines = result.stdout.split(separator: "\n").map(String.init)
        for protection in CheckLines.protections {
            let line = lines.first { $0.hasPrefix("  " + protection + " ") }
            #expect(line != nil, "no line for \(protection)")
            if Requirement.sandbox.allSatisfy(\.available) && Requirement.seccompUserNotification.available {
                #expect(line?.contains(" available ") == true, "\(line ?? protection)")
            }
        }
        #expect(result.status == (KernelSupport.probe().complete ? 0 : 1))
    }

    @Test("the same enforcement holds for an unprivileged caller",
          Fixture.needs(.root, .unprivilegedUserNamespaces))
    func unprivilegedCaller() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let nobody = 65534
            let secret = directory + "/secret"
            try "x".write(toFile: secret, atomically: true, encoding: .utf8)
            chmod(secret, 0o644)
            let probe = Fixture.probe
            // read: denied, then granted
            #expect(trimmed(try sandlock(["run"] + readFlags + ["--", probe, "read", secret], asUser: nobody).stdout) == "EACCES")
            #expect(trimmed(try sandlock(["run"] + readFlags + ["-r", directory, "--", probe, "read", secret], asUser: nobody).stdout) == "ok")
            // write: denied in a read-only grant, allowed in a writable one
            let target = directory + "/created"
            #expect(trimmed(try sandlock(["run"] + readFlags + ["-r", directory, "--", probe, "create", target], asUser: nobody).stdout) == "EACCES")
            #expect(!FileManager.default.fileExists(atPath: target))
            #expect(trimmed(try sandlock(["run"] + readFlags + ["-w", directory, "--", probe, "create", target], asUser: nobody).stdout) == "ok")
            // syscalls: denied in the sandbox; the same user outside any sandbox may make them
            // (a user namespace needs them enabled: the suite's requirement says so)
            let asNobody = ["/usr/bin/setpriv", "--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups", "--", probe]
            for call in ["unshare-user", "ptrace"] {
                #expect(trimmed(try sandlock(["run"] + readFlags + ["--", probe, "syscall", call], asUser: nobody).stdout) == "EPERM", "\(call)")
                #expect(trimmed(try Fixture.runBare(asNobody + ["syscall", call]).stdout) == "ok", "control: \(call) outside a sandbox")
            }
            // bind: denied, then granted
            let port = String(try freeTCPPort())
            #expect(trimmed(try sandlock(["run"] + readFlags + ["--", probe, "bind", port], asUser: nobody).stdout) == "EACCES")
            #expect(trimmed(try sandlock(["run"] + readFlags + ["--net-bind", port, "--", probe, "bind", port], asUser: nobody).stdout) == "ok")
            // signals: a process of the same user outside the sandbox is out of reach
            let sleeper = Process()
            sleeper.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            sleeper.arguments = ["--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups", "--", "/bin/sleep", "30"]
            try sleeper.run()
            defer {
                kill(sleeper.processIdentifier, SIGKILL)
                sleeper.waitUntilExit()
            }
            let pid = String(sleeper.processIdentifier)
            #expect(trimmed(try sandlock(["run"] + readFlags + ["--", probe, "kill", pid], asUser: nobody).stdout) == "EPERM")
            #expect(trimmed(try Fixture.runBare(["/usr/bin/setpriv", "--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups", "--", probe, "kill", pid]).stdout) == "ok")
        }
    }

    @Test("nested sandboxing: an outer --no-supervisor sandbox lets an inner one supervise")
    func nested() throws {
        // A name in no-supervisor mode is only a registry key: it must not bring a listener.
        let outer = ["run", "--no-supervisor", "--name", "nest-\(getpid())", "-r", "/proc"] + readFlags + ["--", Fixture.sandlockCLI, "run"]
        let limited = try sandlock(outer + readFlags + ["-m", "64M", "--", Fixture.probe, "alloc", "200"])
        #expect(limited.status == 137 && limited.stderr.contains("memory limit"), "\(limited)")
        let fine = try sandlock(outer + readFlags + ["-m", "64M", "--", Fixture.probe, "alloc", "16"])
        #expect(fine.status == 0 && fine.stdout == "ok\n")
        // The inner sandbox is still confined by the outer one's Landlock domain.
        let innerGrant = ["-r", "/usr", "-r", "/lib", "-r", "/lib64", "-r", Fixture.productsDirectory, "-r", Fixture.swiftRuntimeDirectory]
        #expect(trimmed(try sandlock(outer + innerGrant + ["--", Fixture.probe, "read", "/etc/hostname"]).stdout) == "EACCES")
        // Under a supervised outer sandbox the inner one cannot get a listener, and says why.
        let supervisedOuter = ["run", "-m", "1G", "-r", "/proc"] + readFlags + ["--", Fixture.sandlockCLI, "run"]
        let refused = try sandlock(supervisedOuter + readFlags + ["-m", "64M", "--", "/bin/true"])
        #expect(refused.status == 125 && refused.stderr.contains("run the outer sandbox with --no-supervisor"))
    }

    @Test("interactive mode hands the terminal to the command, keeps TIOCSTI blocked and takes the terminal back")
    func interactive() throws {
        let flags = (["run", "-i", "-r", "/proc"] + readFlags).joined(separator: " ")
        let inner = """
            \(Fixture.sandlockCLI) \(flags) -- \(Fixture.probe) tcgets-stdin; \
            \(Fixture.sandlockCLI) \(flags) -- \(Fixture.probe) tiocsti-stdin; \
            \(Fixture.sandlockCLI) \(flags) -- /bin/sh -c 'test "$(ps -o tpgid= -p $$)" -eq "$(ps -o pgid= -p $$)" && echo child-foreground'; \
            test "$(ps -o tpgid= -p $$)" -eq "$(ps -o pgid= -p $$)" && echo caller-foreground
            """
        let result = try Fixture.runBare(["/usr/bin/script", "-qec", "/bin/sh -c '\(inner.replacingOccurrences(of: "'", with: "'\\''"))'", "/dev/null"])
        let lines = result.stdout.split(whereSeparator: \.isNewline).map { trimmed(String($0)) }
        #expect(lines.starts(with: ["ok", "EPERM", "child-foreground", "caller-foreground"]), "output: \(lines)")
    }
}

extension SandlockCLITests {
    @Test("sandlock --version prints the version")
    func version() throws {
        let printed = try sandlock(["--version"])
        #expect(printed.status == 0 && printed.stdout == SandlockVersion.current + "\n")
    }
}

/// The lines `sandlock check` prints for the protections of docs/security.md, by name.
enum CheckLines {
    static let protections = [
        "landlock filesystem", "landlock net_tcp", "landlock abstract_unix_socket_scope", "landlock signal_scope",
        "unix socket gate", "file metadata gate", "on-behalf opens judged", "kernel interfaces read-only",
        "raw devices out of tree grants", "workspace storage out of reach", "init out of the command's reach",
        "datagram destinations checked", "socket families allowlist", "mptcp denied", "memory accounting",
        "newer syscalls refused by number", "inode flag ioctls denied", "tcp fast open denied",
        "no_supervisor fails closed", "other processes' scheduling",
    ]
}
