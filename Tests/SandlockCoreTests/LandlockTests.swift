import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

@Suite("Landlock filesystem and IPC confinement", Fixture.needs(Requirement.sandbox))
struct LandlockTests {
    @Test("reading outside the readable paths fails with EACCES; granted, it works")
    func readOutsideAllowlist() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let secret = directory + "/secret.txt"
            try "top secret".write(toFile: secret, atomically: true, encoding: .utf8)
            #expect(try await probe(["read", secret]) == "EACCES")
            #expect(try await probe(["read", secret], policy: Fixture.basePolicy.with { $0.fsReadable.append(directory) }) == "ok")
        }
    }

    @Test("writing into a read-only tree fails and creates nothing; a writable tree works")
    func writeReadOnlyTree() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let target = directory + "/new.txt"
            let readOnly = Fixture.basePolicy.with { $0.fsReadable.append(directory) }
            #expect(try await probe(["create", target], policy: readOnly) == "EACCES")
            #expect(!FileManager.default.fileExists(atPath: target))
            let writable = Fixture.basePolicy.with { $0.fsWritable.append(directory) }
            #expect(try await probe(["create", target], policy: writable) == "ok")
            #expect(FileManager.default.fileExists(atPath: target))
        }
    }

    @Test("exec of a binary outside the readable set fails with a clear message")
    func execOutsideReadableSet() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let copy = directory + "/true"
            try FileManager.default.copyItem(atPath: "/bin/true", toPath: copy)
            do {
                _ = try await Sandbox(policy: Fixture.basePolicy).run([copy])
                Issue.record("exec outside the readable set succeeded")
            } catch let error as SandboxError {
                guard case let .childSetupFailed(step, errno, path) = error else {
                    Issue.record("unexpected error \(error)")
                    return
                }
                #expect(step == .exec && errno == .EACCES && path == copy)
                #expect(error.description.contains("outside the readable paths"))
            }
            let granted = try await Sandbox(policy: Fixture.basePolicy.with { $0.fsReadable.append(directory) }).run([copy])
            #expect(granted.success)
        }
    }

    @Test("a policy path that does not exist is an error naming it")
    func missingPath() async throws {
        let policy = Fixture.basePolicy.with { $0.fsWritable.append("/nonexistent/sandlock-test") }
        let error = await #expect(throws: SandboxError.self) {
            try await Sandbox(policy: policy).run(["/bin/true"])
        }
        #expect(error?.description.contains("fs_writable: cannot open '/nonexistent/sandlock-test'") == true)
    }

    @Test("the safe devices are usable by default and can be opted out of")
    func defaultDevices() async throws {
        let shell = ["/bin/sh", "-c", "echo hi > /dev/null && head -c 4 /dev/urandom | wc -c"]
        let result = try await Sandbox(policy: Fixture.basePolicy).run(shell)
        #expect(result.success && result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "4")
        let strict = try await Sandbox(policy: Fixture.basePolicy.with { $0.defaultDevices = false }).run(shell)
        #expect(!strict.success && strict.stderrText.contains("Permission denied"))
    }

    @Test("signalling a process outside the sandbox fails with EPERM; signalling itself works")
    func signalScope() async throws {
        #expect(try await probe(["kill", String(getpid())]) == "EPERM")
        #expect(try await probe(["kill-self"]) == "ok")
        #expect(try probeBare(["kill", String(getpid())]) == "ok")
    }

    @Test("an abstract unix socket listening outside is unreachable; reachable from outside")
    func abstractUnixScope() async throws {
        let name = "sandlock-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let listener = try AbstractListener(name: name)
        defer { listener.close() }
        #expect(try await probe(["connect-abstract", name]) == "EPERM")
        #expect(try probeBare(["connect-abstract", name]) == "ok")
    }

    @Test("binding a port not in net_bind is denied while the granted port works")
    func bindPorts() async throws {
        let port = try freeTCPPort()
        #expect(try await probe(["bind", String(port)]) == "EACCES")
        #expect(try await probe(["bind", String(port)], policy: Fixture.basePolicy.with { $0.netBind = [port] }) == "ok")
    }

    @Test("TCP connect to a loopback listener is denied by default; bare it connects")
    func connectDeniedByDefault() async throws {
        let listener = try TCPListener()
        defer { listener.close() }
        #expect(try await probe(["connect", String(listener.port)]) == "EACCES")
        #expect(try probeBare(["connect", String(listener.port)]) == "ok")
    }

    @Test("confine() restricts the calling process to its filesystem rules",
          Fixture.needs(.landlock(1, "confine() applies filesystem rules")))
    func confineCurrentProcess() async throws {
        await #expect(processExitsWith: .success) {
            var policy = Policy()
            policy.fsReadable = ["/usr", "/lib", "/lib64", "/etc/passwd"]
            try confine(policy)
            precondition(open("/etc/passwd", O_RDONLY) >= 0, "granted file must stay readable")
            precondition(open("/etc/hostname", O_RDONLY) < 0 && errno == EACCES, "other files must be denied")
        }
    }

    @Test("confine() rejects fields it cannot apply to the current process")
    func confineRejectsOtherFields() {
        var policy = Policy()
        policy.fsReadable = ["/usr"]
        policy.maxMemory = 1 << 20
        #expect(throws: SandboxError.self) { try confine(policy) }
    }
}
