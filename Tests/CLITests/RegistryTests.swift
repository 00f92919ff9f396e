import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

@Suite("sandlock ps / kill / inspect", .serialized, Fixture.needs(Requirement.sandbox))
struct RegistryTests {
    private var readFlags: [String] { Fixture.readablePaths.flatMap { ["-r", $0] } }

    /// Starts `sandlock run --name NAME --net-bind PORT … -- sleep 30` in the background. The
    /// port is one the kernel just handed out (bound to port 0, then released): nothing else
    /// on the machine is listening there, and the sandbox only records the grant.
    private func startNamed(_ name: String, netBind port: UInt16? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Fixture.sandlockCLI)
        let port = try port ?? freeTCPPort()
        process.arguments = ["run", "--name", name, "--net-bind", String(port)] + readFlags + ["--", "/bin/sh", "-c", "sleep 30 & sleep 30"]
        try process.run()
        var attempts = 0
        while attempts < 100, !(try Fixture.runBare([Fixture.sandlockCLI, "ps"]).stdout.contains(name)) {
            usleep(20_000)
            attempts += 1
        }
        return process
    }

    @Test("a named sandbox is listed, inspectable, unique, and killed whole by name")
    func lifecycle() throws {
        let name = "reg-\(getpid())"
        let port = try freeTCPPort()
        let owner = try startNamed(name, netBind: port)
        defer { if owner.isRunning { kill(owner.processIdentifier, SIGKILL) } }
        let listing = try Fixture.runBare([Fixture.sandlockCLI, "ps"]).stdout
        let row = try #require(listing.split(separator: "\n").first { $0.hasPrefix(name + " ") })
        #expect(row.contains(String(port)) && row.contains("sh -c sleep 30 & sleep 30"))
        let inspect = try Fixture.runBare([Fixture.sandlockCLI, "inspect", name]).stdout
        #expect(inspect.contains("\"net_bind\" : [\n      \(port)"))
        // As a profile: the TOML that `sandlock run -p` would read back.
        let toml = try Fixture.runBare([Fixture.sandlockCLI, "inspect", name, "--toml"]).stdout
        #expect(toml.contains("net_bind = [\(port)]\n") && toml.contains("name = \"\(name)\"\n"), "\(toml)")
        // The name is taken while it runs.
        let duplicate = try Fixture.runBare([Fixture.sandlockCLI, "run", "--name", name] + readFlags + ["--", "/bin/true"])
        #expect(duplicate.status == 125 && duplicate.stderr.contains("already running"))
        // kill ends the sandbox (background sleep included) and the owner reports it.
        let pid = Int32(row.split(separator: " ", omittingEmptySubsequences: true)[1])!
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        #expect(try Fixture.runBare([Fixture.sandlockCLI, "kill", name]).stdout == "Killed sandbox '\(name)' (pid \(pid))\n")
        owner.waitUntilExit()
        #expect(owner.terminationStatus == 137)
        for child in children.split(separator: " ").compactMap({ Int32($0) }) { #expect(!Fixture.isAlive(child)) }
        #expect(!(try Fixture.runBare([Fixture.sandlockCLI, "ps"]).stdout.contains(name)))
    }

    @Test("the entry of a sandbox whose owner was killed with SIGKILL is pruned")
    func staleEntries() throws {
        let name = "stale-\(getpid())"
        let owner = try startNamed(name)
        kill(owner.processIdentifier, SIGKILL)
        owner.waitUntilExit()
        // init notices its owner is gone (the control pipe closes) and ends the sandbox.
        #expect(waitUntilGone(name))
    }

    /// Lists (and so prunes) the registry until `name` is gone; false if it never goes.
    @discardableResult
    private func waitUntilGone(_ name: String) -> Bool {
        for _ in 0..<100 {
            if !((try? Fixture.runBare([Fixture.sandlockCLI, "ps"]).stdout.contains(name)) ?? true) { return true }
            usleep(20_000)
        }
        return false
    }

    @Test("another user sees none of them", Fixture.needs(.root))
    func privateToTheUser() throws {
        let name = "private-\(getpid())"
        let owner = try startNamed(name)
        defer {
            kill(owner.processIdentifier, SIGKILL)
            owner.waitUntilExit()
            waitUntilGone(name)
        }
        let other = try Fixture.runBare(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", Fixture.sandlockCLI, "ps"],
                                        environment: ["PATH": "/usr/bin:/bin"])
        #expect(!other.stdout.contains(name), "\(other.stdout)")
        let kill = try Fixture.runBare(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", Fixture.sandlockCLI, "kill", name],
                                       environment: ["PATH": "/usr/bin:/bin"])
        #expect(kill.status != 0)
    }

    @Test("two sandboxes bind the same port with --port-remap; both answer on their real ports; ps shows the mapping",
          Fixture.needs(.seccompUserNotification, .pidfdGetfd))
    func portRemap() async throws {
        try await Fixture.withTemporaryDirectory { (directory: String) async throws in
            let server = directory + "/server.py"
            try """
            import socket, sys
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", int(sys.argv[2]))); s.listen(5)
            print(sys.argv[1], s.getsockname()[1], flush=True)
            while True:
                c, _ = s.accept(); c.sendall(sys.argv[1].encode()); c.close()
            """.write(toFile: server, atomically: true, encoding: .utf8)
            let port = try freeTCPPort()
            func start(_ name: String) throws -> (Process, Pipe) {
                let process = Process(), output = Pipe()
                process.executableURL = URL(fileURLWithPath: Fixture.sandlockCLI)
                process.arguments = ["run", "--name", name, "--port-remap", "--net-bind", String(port), "-r", directory]
                    + readFlags + ["--", "/usr/bin/python3", server, name, String(port)]
                process.standardOutput = output
                try process.run()
                return (process, output)
            }
            let first = "remap-a-\(getpid())", second = "remap-b-\(getpid())"
            let (a, aOut) = try start(first)
            defer { kill(a.processIdentifier, SIGKILL) }
            let aLine = firstLine(aOut)
            let (b, bOut) = try start(second)
            defer { kill(b.processIdentifier, SIGKILL) }
            let bLine = firstLine(bOut)
            // Each sees the port it asked for.
            #expect(aLine == "\(first) \(port)\n" && bLine == "\(second) \(port)\n", "\(aLine) / \(bLine)")
            let registry = try SandboxRegistry.user()
            let realB = try #require(registry.entry(named: second)?.remapped[port])
            #expect(registry.entry(named: first)?.remapped.isEmpty == true)
            #expect(try Fixture.runBare([Fixture.sandlockCLI, "ps"]).stdout.contains("\(port)->\(realB)"))
            #expect(try readGreeting(port: port) == first)
            #expect(try readGreeting(port: realB) == second)
            _ = try Fixture.runBare([Fixture.sandlockCLI, "kill", first])
            a.waitUntilExit()
            #expect(try readGreeting(port: realB) == second)
            _ = try Fixture.runBare([Fixture.sandlockCLI, "kill", second])
            b.waitUntilExit()
        }
    }
}

/// The first line a process writes to `pipe` (waits for it).
private func firstLine(_ pipe: Pipe) -> String {
    var data = Data()
    while !data.contains(10) {
        let chunk = pipe.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        data += chunk
    }
    return String(decoding: data, as: UTF8.self)
}

