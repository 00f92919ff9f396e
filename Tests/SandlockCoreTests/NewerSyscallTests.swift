import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// Syscalls newer than the libseccomp we build with (2.5.4 knows none past 456), which the
/// notify program cannot trap by name: each one that reaches what no grant judges is refused
/// by number with ENOSYS (callers fall back to the older, judged calls); the others answer as
/// outside a sandbox. Controls: outside any sandbox the kernel runs each of them.
@Suite("syscalls libseccomp cannot name", Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .newerSyscalls]))
struct NewerSyscallTests {
    /// (probe arguments after the file, what the call would change).
    static let metadataCalls: [(action: [String], name: String)] = [
        (["meta", "setxattrat"], "setxattrat"),
        (["meta", "removexattrat"], "removexattrat"),
        (["newer", "file_setattr"], "file_setattr"),
    ]

    @Test("setxattrat, removexattrat and file_setattr change nothing, inside or outside a write grant; the older calls do inside")
    func metadataByNumber() async throws {
        try await MetadataCalls.withFileOutsideAndInside { (victim: String, own: String, policy: Policy) async throws in
            for (action, name) in Self.metadataCalls {
                for file in [victim, own] {
                    try MetadataCalls.makeFile(file)
                    let before = MetadataCalls.snapshot(file)
                    #expect(try await probe(action + [file], policy: policy) == "ENOSYS", "\(name) on \(file)")
                    #expect(MetadataCalls.snapshot(file) == before, "\(name) changed \(file)")
                }
                // The same call outside a sandbox changes the file (the escape, before the rule).
                try MetadataCalls.makeFile(victim)
                let before = MetadataCalls.snapshot(victim)
                #expect(try probeBare(action + [victim]) == "ok", "control: \(name) outside a sandbox")
                #expect(MetadataCalls.snapshot(victim) != before, "control: \(name) outside a sandbox changed nothing")
            }
            // What a caller falls back to is judged: inside the write grant it works, outside not.
            try MetadataCalls.makeFile(own)
            try MetadataCalls.makeFile(victim)
            #expect(try await probe(["meta", "setxattr", own], policy: policy) == "ok")
            #expect(try await probe(["meta", "setxattr", victim], policy: policy) == "EPERM")
            #expect(try await probe(["meta", "removexattr", own], policy: policy) == "ok")
        }
    }

    @Test("the refusal holds whatever the deny list: a user's deny_syscalls, no_supervisor, an allowlist naming them")
    func refusalIsNotReplaceable() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let file = directory + "/file"
            try MetadataCalls.makeFile(file)
            let writable = Fixture.basePolicy.with { $0.fsWritable.append(directory) }
            let policies: [(String, Policy)] = [
                ("deny_syscalls replacing the defaults", writable.with { $0.denySyscalls = ["mount"] }),
                ("extra_deny_syscalls naming one", writable.with { $0.extraDenySyscalls = ["setxattrat"] }),
                ("no_supervisor", writable.with { $0.noSupervisor = true }),
                ("an allowlist naming them", writable.with {
                    $0.allowSyscalls = Self.allowlist + ["setxattrat", "removexattrat", "file_setattr"]
                }),
            ]
            for (name, policy) in policies {
                let before = MetadataCalls.snapshot(file)
                for (action, call) in Self.metadataCalls {
                    // A user's own deny entry answers as the user's list does.
                    let expected = policy.extraDenySyscalls.contains(call) ? "EPERM" : "ENOSYS"
                    #expect(try await probe(action + [file], policy: policy) == expected, "\(call) with \(name)")
                }
                #expect(MetadataCalls.snapshot(file) == before, "changed with \(name)")
            }
        }
    }

    @Test("statmount, listmount and lsm_set_self_attr are refused; the harmless newer calls answer as outside")
    func mountTreeAndLabels() async throws {
        for call in ["statmount", "listmount", "lsm_set_self_attr"] {
            #expect(try await probe(["newer", call]) == "ENOSYS", "\(call)")
            #expect(try probeBare(["newer", call]) != "ENOSYS", "control: the kernel has \(call)")
        }
        // Own memory, own labels, metadata reads Landlock does not judge for any call (as
        // stat and getxattr): the same answer as outside a sandbox.
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let file = directory + "/file"
            try MetadataCalls.makeFile(file)
            for call in ["mseal", "lsm_list_modules", "lsm_get_self_attr", "getxattrat", "listxattrat", "file_getattr"] {
                let bare = try probeBare(["newer", call, file])
                #expect(bare != "ENOSYS", "control: the kernel has \(call)")
                #expect(try await probe(["newer", call, file]) == bare, "\(call)")
            }
        }
    }

    @Test("the inode-flag ioctls on a file opened for reading are refused, inside and outside the write grants")
    func flagIoctls() async throws {
        try await MetadataCalls.withFileOutsideAndInside { (victim: String, own: String, policy: Policy) async throws in
            for call in ["ioctl-setflags", "ioctl-fssetxattr"] {
                for file in [victim, own] {
                    try MetadataCalls.makeFile(file)
                    let before = MetadataCalls.snapshot(file)
                    #expect(try await probe(["newer", call, file], policy: policy) == "EPERM", "\(call) on \(file)")
                    #expect(MetadataCalls.snapshot(file) == before, "\(call) changed \(file)")
                }
                // Control: outside a sandbox the owner sets the flag (the escape, before the rule).
                try MetadataCalls.makeFile(victim)
                let before = MetadataCalls.snapshot(victim)
                #expect(try probeBare(["newer", call, victim]) == "ok", "control: \(call) outside a sandbox")
                #expect(MetadataCalls.snapshot(victim) != before, "control: \(call) outside a sandbox changed nothing")
            }
        }
    }

    /// Not an escape on Linux 6.18 (Landlock's connect rule refused it with EACCES before):
    /// the same answer as the other two, whatever path the kernel takes.
    @Test("TCP Fast Open through sendmmsg is denied like sendto's and sendmsg's")
    func fastOpenSendmmsg() async throws {
        let listener = try TCPListener()
        defer { listener.close() }
        let port = String(listener.port)
        for via in ["sendto", "sendmsg", "sendmmsg"] {
            for policy in [Fixture.basePolicy, Fixture.basePolicy.with { $0.noSupervisor = true }] {
                #expect(try await probe(["fastopen", via, port], policy: policy) == "EPERM", "\(via), no_supervisor \(policy.noSupervisor)")
            }
        }
        #expect(listener.pendingConnections() == 0, "a fast-open connect reached the listener")
        // Control: outside a sandbox each one connects.
        for via in ["sendto", "sendmsg", "sendmmsg"] {
            #expect(try probeBare(["fastopen", via, port]) == "ok", "control: \(via) outside a sandbox")
        }
        #expect(listener.pendingConnections() == 3)
    }

    /// What the probe needs to start and make the calls.
    static let allowlist = [
        "read", "write", "openat", "close", "fstat", "newfstatat", "mmap", "mprotect", "munmap",
        "brk", "arch_prctl", "access", "pread64", "set_tid_address", "set_robust_list", "rseq",
        "prlimit64", "getrandom", "exit_group", "exit", "futex", "rt_sigaction", "rt_sigprocmask",
        "readlink", "getcwd", "sched_getaffinity", "lseek", "ioctl", "getuid", "geteuid", "getgid",
        "getegid", "madvise", "mremap", "clock_gettime", "gettid", "sigaltstack", "uname", "getxattr", "lgetxattr",
    ]
}

extension MetadataCalls {
    /// Runs `body` with a fresh file outside every write grant (readable, so descriptor calls
    /// can open it), one inside a write grant, and the policy that grants them so.
    static func withFileOutsideAndInside(_ body: (_ victim: String, _ own: String, _ policy: Policy) async throws -> Void) async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let outside = directory + "/outside", inside = directory + "/inside"
            mkdir(outside, 0o755)
            mkdir(inside, 0o755)
            let victim = outside + "/file", own = inside + "/file"
            try makeFile(victim)
            try makeFile(own)
            try await body(victim, own, Fixture.basePolicy.with { $0.fsReadable.append(outside); $0.fsWritable.append(inside) })
        }
    }
}
