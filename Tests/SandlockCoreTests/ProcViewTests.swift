import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

@Suite("/proc virtualization", Fixture.needs(Requirement.sandbox + [.seccompUserNotification]))
struct ProcViewTests {
    private var withProc: Policy { Fixture.basePolicy.with { $0.fsReadable.append("/proc") } }

    private func shell(_ script: String, _ policy: Policy) async throws -> RunResult {
        try await Sandbox(policy: policy).run(["/bin/sh", "-c", script])
    }

    @Test("ls /proc shows only the sandbox's own processes; ps sees only them")
    func listingShowsOnlyTheSandbox() async throws {
        let result = try await shell("sleep 5 & ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '; echo; ps -e -o pid= | wc -l; kill $!", withProc)
        let lines = result.stdoutText.split(separator: "\n").map(String.init)
        let pids = lines.first?.split(separator: " ").compactMap { Int32($0) } ?? []
        #expect(!pids.isEmpty && !pids.contains(getpid()), "\(lines)")
        #expect(pids.count <= 6, "\(pids)") // sh, sleep, ls, grep, sort, tr at most
        #expect(Int(lines.dropFirst().first?.trimmingCharacters(in: .whitespaces) ?? "") ?? 99 <= 6, "\(result.stdoutText) \(result.stderrText)")
        // Control: without /proc virtualization the host's processes are there (the test runner).
        let host = try Fixture.runBare(["/bin/sh", "-c", "ls /proc | grep -c -E '^[0-9]+$'"])
        #expect((Int(host.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 6)
    }

    @Test("a process outside the sandbox cannot be opened through /proc; its own can")
    func outsideProcessesAreHidden() async throws {
        #expect(try await probe(["read", "/proc/\(getpid())/status"], policy: withProc) == "ENOENT")
        #expect(try await probe(["read", "/proc/\(getpid())/environ"], policy: withProc) == "ENOENT")
        #expect(try await probe(["read", "/proc/1/cmdline"], policy: withProc) == "ENOENT")
        #expect(try await probe(["read", "/proc/self/status"], policy: withProc) == "ok")
        #expect(try await probe(["read", "/proc/thread-self/stat"], policy: withProc) == "ok")
        #expect(try await probe(["read", "/proc/cpuinfo"], policy: withProc) == "ok")
        // Magic links of the process itself stay usable: reading its own stdin through /proc.
        let through = try await Sandbox(policy: withProc).run(["/bin/cat", "/proc/self/fd/0"], io: StandardIO(stdin: .bytes(Array("piped\n".utf8))))
        #expect(through.stdoutText == "piped\n")
        // Reopening its own descriptor cannot gain access: O_TRUNC through a read-only one fails.
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let file = directory + "/keep"
            try "content".write(toFile: file, atomically: false, encoding: .utf8)
            let policy = withProc.with { $0.fsReadable.append(directory) }
            let attempt = try await Sandbox(policy: policy).run(
                ["/usr/bin/python3", "-c", "import os; fd = os.open('\(file)', os.O_RDONLY); os.open('/proc/self/fd/%d' % fd, os.O_RDONLY | os.O_TRUNC)"])
            #expect(!attempt.success && attempt.stderrText.contains("PermissionError"))
            #expect(try String(contentsOfFile: file, encoding: .utf8) == "content")
        }
        // Its own magic links cannot lead outside its grants: /proc/self/root/... is refused.
        #expect(try await probe(["read", "/proc/self/root/etc/hostname"], policy: Fixture.basePolicy.with {
            $0.fsReadable = ["/proc", "/usr", "/lib", "/lib64", Fixture.productsDirectory, Fixture.swiftRuntimeDirectory]
        }) != "ok")
    }

    @Test("kernel memory, logs and keys stay denied even with /proc granted", arguments: ["/proc/kcore", "/proc/kallsyms", "/proc/kmsg", "/proc/sysrq-trigger", "/proc/keys", "/sys/firmware"])
    func sensitiveEntries(path: String) async throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        let policy = withProc.with { $0.fsReadable.append("/sys") }
        #expect(try await probe(["read", path], policy: policy) == "EACCES")
        // Control: the same grant reads an ordinary neighbour in the same tree.
        let neighbour = path.hasPrefix("/sys/") ? "/sys/kernel/uevent_seqnum" : "/proc/version"
        #expect(try await probe(["read", neighbour], policy: policy) == "ok", "\(neighbour)")
    }

    @Test("control: with /proc granted and no virtualization (no-supervisor mode) kallsyms is readable")
    func sensitiveEntryControl() async throws {
        let plain = withProc.with { $0.noSupervisor = true }
        #expect(try await probe(["read", "/proc/kallsyms"], policy: plain) == "ok")
    }

    @Test("/proc/meminfo reports max_memory as the machine's memory")
    func memoryInfo() async throws {
        let result = try await shell("grep MemTotal /proc/meminfo", withProc.with { $0.maxMemory = 256 << 20 })
        #expect(result.stdoutText.contains("MemTotal:") && result.stdoutText.contains(" 262144 kB"), "\(result.stdoutText)")
        let host = try await shell("grep MemTotal /proc/meminfo", withProc)
        #expect(!host.stdoutText.contains(" 262144 kB"))
    }

    @Test("name is the sandbox's host name: uname, /etc/hostname (even without /etc granted)")
    func hostname() async throws {
        let script = "uname -n; cat /etc/hostname; cat /proc/sys/kernel/hostname"
        let named = try await shell(script, withProc.with { $0.name = "box-42" })
        #expect(named.stdoutText == "box-42\nbox-42\nbox-42\n", "\(named.stderrText)")
        var host = utsname()
        uname(&host)
        let real = withUnsafeBytes(of: host.nodename) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let unnamed = try await shell("uname -n", withProc)
        #expect(unnamed.stdoutText == real + "\n")
    }

    @Test("num_cpus is what nproc, /proc/cpuinfo, sysconf and sched_getaffinity show")
    func cpuCount() async throws {
        let script = "nproc; grep -c ^processor /proc/cpuinfo; /usr/bin/python3 -c 'import os; print(os.cpu_count(), len(os.sched_getaffinity(0)))'"
        let one = try await shell(script, withProc.with {
            $0.numCPUs = 1
            $0.fsReadable.append("/sys")
        })
        #expect(one.stdoutText == "1\n1\n1 1\n", "\(one.stderrText)")
        let all = try await shell("nproc", withProc)
        #expect(Int(all.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) == ProcessInfo.processInfo.activeProcessorCount)
    }

    @Test("/proc/net/tcp lists only the sandbox's own sockets")
    func socketTable() async throws {
        let outside = try TCPListener(address: "127.0.0.1")
        defer { outside.close() }
        let port = try freeTCPPort()
        let script = "/usr/bin/python3 -c 'import socket,sys; s=socket.socket(); s.bind((\"127.0.0.1\",\(port))); s.listen(1); print(open(\"/proc/net/tcp\").read(), end=\"\")'"
        let result = try await shell(script, withProc.with { $0.netBind = [port] })
        let rows = result.stdoutText.split(separator: "\n").dropFirst()
        #expect(rows.count == 1, "\(result.stdoutText) \(result.stderrText)")
        #expect(rows.first?.contains(":" + String(port, radix: 16, uppercase: true)) == true)
        let host = try Fixture.runBare(["/bin/cat", "/proc/net/tcp"]).stdout
        #expect(host.contains(":" + String(outside.port, radix: 16, uppercase: true)))
    }
}
