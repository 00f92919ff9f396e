import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

@Suite("sandlock ps / kill / inspect", .serialized, Fixture.needs(Fixture.kernelComplete, "needs Landlock ABI 6+"))
struct RegistryTests {
    private var readFlags: [String] { Fixture.readablePaths.flatMap { ["-r", $0] } }

    /// Starts `sandlock run --name NAME … -- sleep 30` in the background.
    private func startNamed(_ name: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Fixture.sandlockCLI)
        process.arguments = ["run", "--name", name, "--net-bind", "18123"] + readFlags + ["--", "/bin/sh", "-c", "sleep 30 & sleep 30"]
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
        let owner = try startNamed(name)
        defer { if owner.isRunning { kill(owner.processIdentifier, SIGKILL) } }
        let listing = try Fixture.runBare([Fixture.sandlockCLI, "ps"]).stdout
        let row = try #require(listing.split(separator: "\n").first { $0.hasPrefix(name + " ") })
        #expect(row.contains("18123") && row.contains("sh -c sleep 30 & sleep 30"))
        let inspect = try Fixture.runBare([Fixture.sandlockCLI, "inspect", name]).stdout
        #expect(inspect.contains("\"net_bind\" : [\n      18123"))
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
        var listed = true, attempts = 0
        while listed && attempts < 100 {
            listed = try Fixture.runBare([Fixture.sandlockCLI, "ps"]).stdout.contains(name)
            if listed { usleep(20_000) }
            attempts += 1
        }
        #expect(!listed)
    }

    @Test("another user sees none of them", Fixture.needs(Fixture.isRoot, "needs root to switch to the user nobody"))
    func privateToTheUser() throws {
        try Fixture.require(Fixture.isRoot, "needs root")
        let name = "private-\(getpid())"
        let owner = try startNamed(name)
        defer { kill(owner.processIdentifier, SIGKILL); owner.waitUntilExit() }
        let other = try Fixture.runBare(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", Fixture.sandlockCLI, "ps"],
                                        environment: ["PATH": "/usr/bin:/bin"])
        #expect(!other.stdout.contains(name), "\(other.stdout)")
        let kill = try Fixture.runBare(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", Fixture.sandlockCLI, "kill", name],
                                       environment: ["PATH": "/usr/bin:/bin"])
        #expect(kill.status != 0)
    }
}
