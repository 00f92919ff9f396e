import CSandlock
import Foundation
@testable import SandlockCore
import SandlockTestSupport
import Testing

/// Escapes closed in the kernel layer (BPF argument filters, Landlock rules, init's domains).
/// Each test shows the escape is refused and runs a positive control: the same action where
/// policy allows it, or outside any sandbox, succeeds. Run as root and as nobody
/// (`setpriv --reuid=65534 --regid=65534 --clear-groups` on the test binary).
@Suite("kernel-layer hardening", Fixture.needs(Requirement.sandbox))
struct KernelHardeningTests {
    // MARK: Sockets Landlock does not see

    static let mptcpEnabled: Bool =
        (try? String(contentsOfFile: "/proc/sys/net/mptcp/enabled", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) == "1"

    @Test("MPTCP connects are denied: Landlock's TCP rules do not see them")
    func mptcpDenied() async throws {
        let listener = try TCPListener()
        defer { listener.close() }
        let port = String(listener.port)
        // The escape: Multipath TCP to a plain TCP listener (it falls back to TCP).
        #expect(try await probe(["connect-mptcp", port]) == "EPERM")
        if Self.mptcpEnabled {
            #expect(try probeBare(["connect-mptcp", port]) == "ok", "MPTCP works outside a sandbox")
        } else {
            print("control skipped: net.mptcp.enabled is not 1 on this machine")
        }
        // Controls: plain TCP is Landlock's (EACCES), and a port grant lets TCP through.
        #expect(try await probe(["connect", port]) == "EACCES")
        #expect(try await probe(["connect", port], policy: Fixture.basePolicy.with { $0.netAllow = [":\(port)"] }) == "ok")
        #expect(try await probe(["connect-mptcp", port], policy: Fixture.basePolicy.with { $0.netAllow = [":\(port)"] }) == "EPERM")
    }

    /// (family, type, protocol, what it is). Families outside AF_UNIX, AF_INET, AF_INET6 and
    /// AF_NETLINK; IP protocols other than TCP for streams.
    static let deniedSockets: [(Int, Int, Int, String)] = [
        (40, 1, 0, "AF_VSOCK (the hypervisor host)"),
        (31, 1, 3, "AF_BLUETOOTH RFCOMM"),
        (44, 3, 0, "AF_XDP"),
        (15, 3, 2, "AF_KEY"),
        (21, 5, 0, "AF_RDS"),
        (30, 4, 0, "AF_TIPC"),
        (29, 3, 1, "AF_CAN"),
        (38, 5, 0, "AF_ALG"),
        (17, 3, 0, "AF_PACKET"),
        (45, 2, 0, "AF_MCTP"),
        (42, 2, 0, "AF_QIPCRTR"),
        (43, 1, 0, "AF_SMC"),
        (0, 1, 0, "AF_UNSPEC"),
        (46, 1, 0, "a family past today's last"),
        (2, 1, 262, "AF_INET MPTCP"),
        (10, 1, 262, "AF_INET6 MPTCP"),
        (2, 1, 132, "AF_INET SCTP stream"),
        (2, 5, 132, "AF_INET SCTP seqpacket"),
        (2, 6, 33, "AF_INET DCCP"),
        (2, 3, 6, "AF_INET raw"),
        (2, 1, 1, "AF_INET stream with protocol ICMP"),
        (2, 1, 0x1_0000_0006, "AF_INET TCP with garbage in the upper half"),
        (0x1_0000_0002, 1, 0, "AF_INET with garbage in the upper half"),
    ]

    @Test("socket families and IP protocols with no business in a sandbox are denied")
    func socketFamiliesDenied() async throws {
        for (family, type, proto, name) in Self.deniedSockets {
            #expect(try await probe(["socket", String(family), String(type), String(proto)]) == "EPERM", "\(name)")
        }
        // Controls: what a sandbox needs still works.
        for (family, type, proto, name) in [(1, 1, 0, "unix stream"), (1, 5, 0, "unix seqpacket"),
                                            (2, 1, 0, "TCP"), (2, 1, 6, "TCP by number"), (10, 0x80001, 0, "TCP6 CLOEXEC"),
                                            (16, 3, 0, "netlink route")] {
            #expect(try await probe(["socket", String(family), String(type), String(proto)]) == "ok", "\(name)")
        }
        // The kernel itself answers these with something else than EPERM (one per kind, no
        // module autoloading on the host).
        for arguments in [["socket", "40", "1", "0"], ["socket", "44", "3", "0"], ["connect-mptcp", "1"]] {
            try await expectAllowedWithoutFilter(arguments)
        }
    }

    @Test("UDP needs allow_udp and stays UDP: UDP-Lite and L2TP/IP are denied")
    func datagramProtocols() async throws {
        let udp = Fixture.basePolicy.with { $0.allowUDP = true }
        for proto in ["0", "17"] {
            #expect(try await probe(["socket", "2", "2", proto], policy: udp) == "ok", "UDP \(proto)")
            #expect(try await probe(["socket", "10", "2", proto], policy: udp) == "ok", "UDP6 \(proto)")
        }
        for proto in ["136", "115", "1"] {
            #expect(try await probe(["socket", "2", "2", proto], policy: udp) == "EPERM", "dgram protocol \(proto)")
        }
        let icmp = Fixture.basePolicy.with { $0.allowICMP = true }
        #expect(try await probe(["socket", "2", "2", "17"], policy: icmp) == "EPERM")
        #expect(try await probe(["socket", "2", "2", "1"], policy: icmp) != "EPERM")  // EACCES by ping_group_range, or ok
        #expect(try await probe(["socket", "10", "2", "58"], policy: icmp) != "EPERM")
    }

    @Test("socketpair is AF_UNIX only")
    func socketpairFamilies() async throws {
        #expect(try await probe(["socketpair", "1", "1", "0"]) == "ok")
        #expect(try await probe(["socketpair", "30", "5", "0"]) == "EPERM")
        #expect(try await probe(["socketpair", "4294967297", "1", "0"]) == "EPERM")
    }

    // MARK: Other processes' limits

    @Test("prlimit64 cannot set another process's limits; its own and reading work")
    func prlimitOthers() async throws {
        let victim = try Self.spawnBare(["/bin/sleep", "1000"])
        defer { kill(victim, SIGKILL); waitpid(victim, nil, 0) }
        let pid = String(victim)
        // The escape: RLIMIT_CPU = 1 s on a process outside the sandbox (same uid).
        #expect(try await probe(["prlimit", pid]) == "EPERM")
        #expect(try await probe(["prlimit-read", pid]) == "ok")
        #expect(try await probe(["prlimit", "0"]) == "ok")
        #expect(try await probe(["setrlimit-self"]) == "ok")
        #expect(try probeBare(["prlimit", pid]) == "ok", "control: outside a sandbox the call works")
    }

    // MARK: Set-user-ID and set-group-ID bits, devices

    @Test("setuid and setgid bits cannot be set by chmod", arguments: ["chmod", "fchmod", "fchmodat", "fchmodat2"])
    func setIDBitsByChmod(via: String) async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let file = directory + "/program"
            _ = FileManager.default.createFile(atPath: file, contents: Data([0]), attributes: [.posixPermissions: 0o644])
            let writable = Fixture.basePolicy.with { $0.fsWritable.append(directory) }
            for mode in ["4755", "2755", "6755"] {
                #expect(try await probe(["chmod", via, file, mode], policy: writable) == "EPERM", "\(via) \(mode)")
                #expect(Self.mode(file) & 0o6000 == 0)
            }
            #expect(try await probe(["chmod", via, file, "0755"], policy: writable) == "ok")
            #expect(try await probe(["chmod", via, directory, "1777"], policy: writable) == "ok", "the sticky bit is fine")
            #expect(try probeBare(["chmod", via, file, "4755"]) == "ok")
            #expect(Self.mode(file) & 0o4000 != 0, "control: outside a sandbox the bit is set")
        }
    }

    @Test("new files are not created setuid or setgid", arguments: ["open", "openat", "creat", "mknod", "mknodat", "tmpfile"])
    func setIDBitsOnCreation(via: String) async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let writable = Fixture.basePolicy.with { $0.fsWritable.append(directory) }
            let target = via == "tmpfile" ? directory : directory + "/new"
            let created = via == "tmpfile" ? directory + "/file" : target
            #expect(try await probe(["create-mode", via, target, "4755"], policy: writable) == "EPERM")
            #expect(try await probe(["create-mode", via, target, "2755"], policy: writable) == "EPERM")
            #expect(!FileManager.default.fileExists(atPath: created))
            #expect(try await probe(["create-mode", via, target, "0755"], policy: writable) == "ok")
            try FileManager.default.removeItem(atPath: created)
            #expect(try probeBare(["create-mode", via, target, "4755"]) == "ok")
            // The umask may clear group bits, never S_ISUID.
            #expect(Self.mode(created) & 0o4000 != 0, "control: outside a sandbox the bit is kept")
        }
    }

    @Test("openat2 answers ENOSYS: its flags and mode are out of BPF's reach (libc falls back)")
    func openat2Unavailable() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let writable = Fixture.basePolicy.with { $0.fsWritable.append(directory) }
            #expect(try await probe(["create-mode", "openat2", directory + "/new", "4755"], policy: writable) == "ENOSYS")
            #expect(try probeBare(["create-mode", "openat2", directory + "/new", "0644"]) == "ok")
        }
    }

    @Test("device nodes cannot be made")
    func deviceNodes() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let writable = Fixture.basePolicy.with { $0.fsWritable.append(directory); $0.keepCapabilities = true }
            for kind in ["char", "block"] {
                #expect(try await probe(["mknod-device", kind, directory + "/\(kind)"], policy: writable) == "EPERM")
                #expect(!FileManager.default.fileExists(atPath: directory + "/\(kind)"))
            }
            // Control: outside a sandbox root makes the device (with its capabilities kept
            // above, only the filter stands in the way).
            try await expectAllowedWithoutFilter(["mknod-device", "char", directory + "/bare"])
        }
    }

    // MARK: Kernel interfaces stay read-only

    static let kernelInterfaces = ["/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger", "/sys/kernel/mm/transparent_hugepage/enabled"]

    @Test("a write grant on /proc, /sys or / leaves kernel interfaces read-only", Fixture.needs(.root))
    func kernelInterfacesReadOnly() async throws {
        // `-w /` without a workdir is refused (it covers the workspace storage); with one,
        // the overlay hides the storage, so that is how `/` is granted here.
        try await Fixture.withTemporaryDirectory { (workdir: String) async throws in
            for grant in ["/proc", "/sys", "/"] {
                let policy = Fixture.basePolicy.with {
                    $0.fsWritable.append(grant)
                    if grant == "/" { $0.workdir = workdir }
                }
                for file in Self.kernelInterfaces where file.hasPrefix(grant) && FileManager.default.fileExists(atPath: file) {
                    #expect(try await probe(["open-write", file], policy: policy) == "EACCES", "-w \(grant): \(file)")
                    if file != "/proc/sysrq-trigger" {
                        #expect(try await probe(["read", file], policy: policy) == "ok", "-w \(grant): \(file) readable")
                    }
                    #expect(try probeBare(["open-write", file]) == "ok", "control: root opens \(file) for writing outside")
                }
            }
        }
        // The rest of a `-w /` grant stays writable.
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let everything = Fixture.basePolicy.with { $0.fsWritable.append("/"); $0.workdir = directory; $0.onExit = .commit }
            #expect(try await probe(["create", directory + "/new"], policy: everything) == "ok")
        }
    }

    // MARK: Exec from a descriptor

    @Test("exec from a memfd works and stays confined (documented: not a boundary)")
    func memfdExec() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let secret = directory + "/secret"
            try "x".write(toFile: secret, atomically: true, encoding: .utf8)
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixture.probe)))
            let io = StandardIO(stdin: .bytes(bytes))
            for via in ["execveat", "proc"] {
                let result = try await Sandbox(policy: Fixture.basePolicy).run(
                    [Fixture.probe, "memfd-exec", via, "probe", "read", secret], io: io)
                #expect(result.stdoutText == "EACCES\n", "\(via): \(result.stdoutText) \(result.stderrText)")
            }
        }
    }

    // MARK: Outliving the sandbox

    @Test("the command cannot kill init, so a child forked before cannot outlive the sandbox")
    func initCannotBeKilled() async throws {
        let pidPipe = try SharedDescriptor.pipe()
        let goPipe = try SharedDescriptor.pipe()
        // $PPID of the command is init.
        let script = "/bin/sleep 1000 & echo $!; read go; kill -KILL $PPID; echo kill=$?; exit 0"
        let process = try Sandbox(policy: Fixture.basePolicy).spawn(
            ["/bin/sh", "-c", script], io: StandardIO(stdin: .descriptor(goPipe.read), stdout: .descriptor(pidPipe.write)))
        var ready = pollfd(fd: pidPipe.read.rawValue, events: Int16(POLLIN), revents: 0)
        #expect(poll(&ready, 1, 30_000) == 1, "the command reports its child")
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(pidPipe.read.rawValue, &buffer, 64)
        let child = Int32(String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(child > 0)
        let pidfd = csl_pidfd_open(child)
        #expect(pidfd >= 0)
        defer { if pidfd >= 0 { _ = csl_pidfd_send_signal(pidfd, SIGKILL); close(pidfd) } }
        _ = write(goPipe.write.rawValue, "go\n", 3)
        let result = await process.wait()
        let printed = String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
        var exited = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        #expect(poll(&exited, 1, 30_000) == 1, "the child forked before the kill is gone (\(printed), \(result.reason))")
        // What the command's kill answered (its stdout is our pipe).
        var said = pollfd(fd: pidPipe.read.rawValue, events: Int16(POLLIN), revents: 0)
        let more = poll(&said, 1, 0) == 1 ? read(pidPipe.read.rawValue, &buffer, 64) : 0
        #expect(String(decoding: buffer.prefix(max(more, 0)), as: UTF8.self).contains("kill=1"), "init refused the signal")
    }

    // MARK: Helpers

    /// posix_spawn of a process outside any sandbox (Foundation's Process reaps on its own).
    static func spawnBare(_ argv: [String]) throws -> pid_t {
        var pid: pid_t = 0
        let arguments = argv.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        let rc = posix_spawn(&pid, argv[0], nil, nil, arguments, environ)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL) }
        return pid
    }

    static func mode(_ path: String) -> mode_t {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode : 0
    }
}

/// The size of the BPF programs (printed: the cost of the argument filters is paid by the
/// syscalls they sit on, through a binary tree over syscall numbers).
@Suite("BPF program size")
struct BPFProgramSizeTests {
    @Test("the default program stays far below the kernel's 4096 instructions")
    func programSize() throws {
        for (name, policy) in [("default", Fixture.basePolicy), ("udp", Fixture.basePolicy.with { $0.allowUDP = true }),
                               ("icmp", Fixture.basePolicy.with { $0.allowICMP = true })] {
            let program = try SeccompProgram.compile(for: policy, features: SupervisorFeatures(policy))
            let instructions = program.bytes.count / 8
            print("bpf program (\(name)): \(instructions) instructions")
            #expect(instructions < 1024)
        }
        // Compile time (uncached: each policy differs in one extra denied syscall), which every
        // `sandlock run` pays once.
        let names = ["getpid", "getppid", "getuid", "getgid", "geteuid", "getegid", "gettid", "sync", "pause", "alarm",
                     "getpgrp", "setsid", "getsid", "times", "uname", "umask", "sysinfo", "getcpu", "sched_yield", "vhangup"]
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            for name in names {
                let policy = Fixture.basePolicy.with { $0.extraDenySyscalls = [name] }
                _ = try SeccompProgram.compile(for: policy, features: SupervisorFeatures(policy))
            }
        }
        print("bpf compile: \(elapsed / names.count) per program")
    }
}
