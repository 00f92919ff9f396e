import Foundation
@testable import sandlock
import SandlockCore
import SandlockTestSupport
import Testing

@Suite("sandlock run argument parsing")
struct RunArgumentsTests {
    @Test("the fast parser knows exactly the flags `run --help` documents")
    func flagsMatchHelp() throws {
        let dump = try Fixture.runBare([Fixture.sandlockCLI, "--experimental-dump-help"]).stdout
        let root = try #require(JSONSerialization.jsonObject(with: Data(dump.utf8)) as? [String: Any])
        let command = try #require(root["command"] as? [String: Any])
        let subcommands = try #require(command["subcommands"] as? [[String: Any]])
        let run = try #require(subcommands.first { $0["commandName"] as? String == "run" })
        var documented = Set<String>()
        for argument in run["arguments"] as? [[String: Any]] ?? [] {
            for name in argument["names"] as? [[String: String]] ?? [] {
                documented.insert((name["kind"] == "short" ? "-" : "--") + name["name"]!)
            }
        }
        documented.subtract(["-h", "--help"])
        #expect(documented == RunArguments.flagNames)
    }

    @Test("flags map onto the policy; the command starts after -- or at the first non-option")
    func parse() throws {
        let parsed = try RunArguments(parsing: [
            "-r", "/usr", "--fs-read=/lib", "-w/tmp", "--net-bind", "80,8000-8001", "-t", "1.5s",
            "--env", "A=b=c", "--clean-env", "--max-open-files", "32", "--no-coredump",
            "--time-start", "2000-01-01T00:00:00Z", "echo", "-n", "--not-ours",
        ])
        #expect(parsed.policy.fsReadable == ["/usr", "/lib"])
        #expect(parsed.policy.fsWritable == ["/tmp"])
        #expect(parsed.policy.netBind == [80, 8000, 8001])
        #expect(parsed.policy.timeout == .milliseconds(1500))
        #expect(parsed.policy.env == ["A": "b=c"] && parsed.policy.cleanEnv)
        #expect(parsed.policy.maxOpenFiles == 32 && parsed.policy.noCoredump)
        #expect(parsed.policy.timeStart == 946_684_800)
        #expect(parsed.command == ["echo", "-n", "--not-ours"])
        #expect(try RunArguments(parsing: ["-e", "ls | wc"]).command == ["/bin/sh", "-c", "ls | wc"])
        #expect(try RunArguments(parsing: ["--", "-weird-name"]).command == ["-weird-name"])
    }

    @Test("bad arguments name the problem", arguments: [
        (["--bogus"], "unknown option '--bogus'"),
        (["-r"], "-r needs a value"),
        (["--clean-env=yes", "--", "true"], "--clean-env takes no value"),
        (["-m", "lots", "--", "true"], "--max-memory: expected a size like 512M or 1G, found 'lots'"),
        (["-c", "0", "--", "true"], "--cpu: expected a percentage from 1 to 100, found '0'"),
        (["-e", "ls", "--", "ls"], "give either -e CMD or a command after --, not both"),
        (["-r", "/usr"], "no command"),
    ])
    func errors(arguments: [String], message: String) {
        #expect {
            _ = try RunArguments(parsing: arguments)
        } throws: { error in
            String(describing: error).contains(message)
        }
    }
}
