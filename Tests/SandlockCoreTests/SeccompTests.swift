import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

@Suite("seccomp deny list and argument filters", Fixture.needs(Requirement.sandbox))
struct SeccompTests {
    /// Denied by the default list; with the list emptied (and, as root, capabilities kept)
    /// the kernel answers something else, which proves the EPERM came from our filter.
    @Test("dangerous syscalls fail with EPERM", arguments: ["mount", "ptrace", "bpf", "io_uring_setup", "keyctl", "unshare"])
    func defaultDenyList(syscall: String) async throws {
        #expect(try await probe(["syscall", syscall]) == "EPERM")
        try await expectAllowedWithoutFilter(["syscall", syscall], liftedBy: Fixture.basePolicy.with {
            $0.denySyscalls = []
            $0.keepCapabilities = true
        })
    }

    @Test("namespace flags of clone are denied; a plain fork works")
    func cloneNamespaces() async throws {
        // CLONE_NEWNS alone needs root; with CLONE_NEWUSER any user may (user namespaces on).
        for action in ["clone-newns", "clone-newuser-newns"] {
            #expect(try await probe(["syscall", action]) == "EPERM", "\(action)")
            try await expectAllowedWithoutFilter(["syscall", action])
        }
        let fork = try await Sandbox(policy: Fixture.basePolicy).run(["/bin/sh", "-c", "/bin/true & wait $!"])
        #expect(fork.success)
    }

    @Test("personality may be queried but not changed")
    func personality() async throws {
        #expect(try await probe(["syscall", "personality-set"]) == "EPERM")
        try await expectAllowedWithoutFilter(["syscall", "personality-set"])
        #expect(try await probe(["syscall", "personality-query"]) == "ok")
    }

    @Test("raw, packet and non-route netlink sockets are denied; TCP and netlink route work")
    func socketFamilies() async throws {
        for denied in ["socket-raw", "socket-packet", "socket-netlink-audit"] {
            #expect(try await probe(["syscall", denied]) == "EPERM", "\(denied)")
            try await expectAllowedWithoutFilter(["syscall", denied])
        }
        for allowed in ["socket-tcp", "socket-netlink-route"] {
            #expect(try await probe(["syscall", allowed]) == "ok", "\(allowed)")
        }
    }

    @Test("UDP sockets need allow_udp")
    func udpOptIn() async throws {
        #expect(try await probe(["syscall", "socket-udp"]) == "EPERM")
        #expect(try await probe(["syscall", "socket-udp"], policy: Fixture.basePolicy.with { $0.allowUDP = true }) == "ok")
    }

    @Test("SysV IPC is denied unless the sysv_ipc group is allowed")
    func sysvIPC() async throws {
        #expect(try await probe(["syscall", "shmget"]) == "EPERM")
        #expect(try await probe(["syscall", "shmget"], policy: Fixture.basePolicy.with { $0.extraAllowSyscalls = ["sysv_ipc"] }) == "ok")
    }

    @Test("extra_deny_syscalls adds to the list; unknown names are errors")
    func extraDeny() async throws {
        #expect(try await probe(["syscall", "getpid"]) == "ok")
        #expect(try await probe(["syscall", "getpid"], policy: Fixture.basePolicy.with { $0.extraDenySyscalls = ["getpid"] }) == "EPERM")
        await #expect(throws: SandboxError.invalidPolicy("extra_deny_syscalls: unknown syscall 'no_such_call'")) {
            try await Sandbox(policy: Fixture.basePolicy.with { $0.extraDenySyscalls = ["no_such_call"] }).run(["/bin/true"])
        }
    }

    @Test("allowlist mode denies everything not listed")
    func allowlistMode() async throws {
        let needed = ["read", "write", "openat", "close", "fstat", "newfstatat", "mmap", "mprotect", "munmap",
                      "brk", "arch_prctl", "access", "pread64", "set_tid_address", "set_robust_list", "rseq",
                      "prlimit64", "getrandom", "exit_group", "exit", "futex", "rt_sigaction", "rt_sigprocmask",
                      "readlink", "getcwd", "sched_getaffinity", "lseek", "ioctl", "getuid", "geteuid", "getgid",
                      "getegid", "madvise", "mremap", "clock_gettime", "gettid", "sigaltstack", "uname"]
        let without = Fixture.basePolicy.with { $0.allowSyscalls = needed }
        #expect(try await probe(["syscall", "getpid"], policy: without) == "EPERM")
        let with = Fixture.basePolicy.with { $0.allowSyscalls = needed + ["getpid"] }
        #expect(try await probe(["syscall", "getpid"], policy: with) == "ok")
    }

    @Test("TIOCSTI on a terminal is denied; other terminal ioctls work")
    func tiocsti() async throws {
        let policy = Fixture.basePolicy.with { $0.fsWritable += ["/dev/ptmx", "/dev/pts"] }
        #expect(try await probe(["tiocsti"], policy: policy) == "EPERM")
        try await expectAllowedWithoutFilter(["tiocsti"])
        #expect(try await probe(["tcgets"], policy: policy) == "ok")
    }

    @Test("a root caller's sandbox has no effective capabilities", Fixture.needs(.root))
    func capabilitiesDropped() async throws {
        let read = ["/bin/sh", "-c", "grep CapEff /proc/self/status"]
        let policy = Fixture.basePolicy.with { $0.fsReadable.append("/proc") }
        let dropped = try await Sandbox(policy: policy).run(read)
        #expect(dropped.stdoutText.contains("CapEff:\t0000000000000000"))
        #expect(dropped.enforcement.enforced.contains("capabilities_dropped"))
        let kept = try await Sandbox(policy: policy.with { $0.keepCapabilities = true }).run(read)
        #expect(kept.stdoutText.contains("CapEff:") && !kept.stdoutText.contains("CapEff:\t0000000000000000"))
    }
}
