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

    @Test("exec of a binary outside the readable set fails naming the file and the directory to grant")
    func execOutsideReadableSet() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let copy = directory + "/true"
            try FileManager.default.copyItem(atPath: "/bin/true", toPath: copy)
            let real = try #require(URL(fileURLWithPath: copy).resolvingSymlinksInPath().path.removingPercentEncoding)
            do {
                _ = try await Sandbox(policy: Fixture.basePolicy).run([copy])
                Issue.record("exec outside the readable set succeeded")
            } catch let error as SandboxError {
                #expect(error == .execDenied(program: copy, unreadable: real, role: "the program"), "\(error)")
                #expect(error.description.contains("the sandbox may not read \(real) (the program); grant read access to \((real as NSString).deletingLastPathComponent)"))
                #expect(error.directoryToGrant == (real as NSString).deletingLastPathComponent)
            }
            let granted = try await Sandbox(policy: Fixture.basePolicy.with { $0.fsReadable.append(directory) }).run([copy])
            #expect(granted.success)
        }
    }

    @Test("exec refused for the ELF loader or a #! interpreter names that file, not the program")
    func execDeniedForTheLoaderOrInterpreter() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            // /usr/bin is readable, the loader under /usr/lib is not.
            let loaderless = Policy().with { $0.fsReadable = ["/usr/bin"] }
            let error = await #expect(throws: SandboxError.self) { try await Sandbox(policy: loaderless).run(["/usr/bin/true"]) }
            guard case let .execDenied(program, unreadable, role)? = error else {
                Issue.record("unexpected error \(String(describing: error))")
                return
            }
            #expect(program == "/usr/bin/true" && role == "the ELF loader of /usr/bin/true")
            #expect(unreadable.hasPrefix("/usr/lib") && unreadable.contains("ld-linux"), "\(unreadable)")

            // A script in a granted folder whose interpreter is not readable.
            let script = directory + "/script.sh"
            try "#!/bin/sh\necho ran\n".write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
            let noShell = Policy().with { $0.fsReadable = [directory, "/usr/lib", "/lib64"] }
            let scriptError = await #expect(throws: SandboxError.self) { try await Sandbox(policy: noShell).run([script]) }
            #expect(scriptError == .execDenied(program: script, unreadable: "/usr/bin/dash", role: "the #! interpreter of \(script)"), "\(String(describing: scriptError))")
            // Positive control: the same script with the system readable runs.
            let granted = try await Sandbox(policy: Fixture.basePolicy.with { $0.fsReadable.append(directory) }).run([script])
            #expect(granted.success && granted.stdoutText == "ran\n")
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
