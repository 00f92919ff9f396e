import Foundation
import SandlockTestSupport
import Testing

@Suite("net_deny", Fixture.needs(Requirement.sandbox + [.seccompUserNotification, .pidfdGetfd]))
struct NetDenyTests {
    /// curl inside the sandbox: its exit status (7: the connect was refused) and output.
    private func fetch(_ flags: [String], port: UInt16) throws -> (status: Int32, stdout: String) {
        let argv = [Fixture.sandlockCLI, "run"] + Fixture.readablePaths.flatMap { ["-r", $0] } + flags
            + ["--", "/usr/bin/curl", "-sS", "http://localhost:\(port)/x"]
        let result = try Fixture.runBare(argv)
        return (result.status, result.stdout)
    }

    @Test("--net-deny beats a wider --net-allow, for names and networks; the other port stays reachable")
    func denyWins() throws {
        try withScratchDirectory { directory in
            let open = try TestHTTPServer(directory: directory), closed = try TestHTTPServer(directory: directory)
            defer { open.stop(); closed.stop() }
            for deny in ["localhost:\(closed.port)", "127.0.0.0/8:\(closed.port)", "127.0.0.1:*"] {
                let flags = ["--net-allow", ":*", "--net-deny", deny]
                let refused = try fetch(flags, port: closed.port)
                #expect(refused.status == 7, "\(deny): \(refused)")
                if deny != "127.0.0.1:*" { #expect(try fetch(flags, port: open.port).stdout.contains("saw GET /x"), "\(deny)") }
            }
            // Without the deny rule, the same allowlist reaches it (the positive control).
            #expect(try fetch(["--net-allow", ":*"], port: closed.port).stdout.contains("saw GET /x"))
            #expect(!closed.seen.contains("/x") || closed.seen.components(separatedBy: "\n").filter { !$0.isEmpty }.count == 1)
        }
    }
}
