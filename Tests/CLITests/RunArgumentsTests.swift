import Foundation
@testable import sandlock
import SandlockCore
import SandlockTestSupport
import Testing

@Suite("sandlock run argument parsing")
struct RunArgumentsTests {
    @Test("every flag of the table and the extras appears in `run --help`")
    func helpListsEveryFlag() throws {
        let help = try Fixture.runBare([Fixture.sandlockCLI, "run", "--help"])
        #expect(help.status == 0)
        for name in RunArguments.flagNames {
            #expect(help.stdout.contains(" \(name) ") || help.stdout.contains(" \(name),") || help.stdout.contains(" \(name)\n"), "\(name) is not in run --help")
        }
        for section in PolicySection.allCases { #expect(help.stdout.contains("\(section.title):")) }
    }

    /// A valid sample argument for each notation, and what the field must then hold.
    static func sample(_ field: PolicyField) -> String? {
        switch field.grammar {
        case .flag: nil
        case .paths, .string: "/some/path"
        case .size: "512M"
        case .duration: "1500ms"
        case .integer(_, let range, _): "\(min(range.upperBound, range.lowerBound + 1))"
        case .cpuList: "0,1"
        case .ports: "8080,9000-9001"
        case .endpoints: "example.com:443"
        case .httpRules: "GET example.com/v1/*"
        case .timestamp: "2000-01-01T00:00:00Z"
        case .seed: "42"
        case .syscalls: "mount"
        case .syscallGroups: "sysv_ipc"
        case .syscallSet: "mount"
        case .environment: "KEY=value"
        case .disposition: "keep"
        }
    }

    @Test("every table flag parses, changes its field, and round-trips through JSON with its name")
    func everyFieldRoundTrips() throws {
        let flagged = Policy.fields.filter { !$0.flags.isEmpty }
        #expect(flagged.count >= 30)
        for field in flagged {
            for name in field.flags {
                var argv = [name] + (Self.sample(field).map { [$0] } ?? [])
                if field.name == "on_exit" || field.name == "on_error" { argv += ["--workdir", "/tmp"] }
                let parsed = try RunArguments(parsing: argv + ["--", "true"])
                #expect(!field.isDefault(in: parsed.policy), "\(name) did not set \(field.name)")
                let data = try JSONEncoder().encode(parsed.policy)
                let object = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
                #expect(object[field.name] != nil, "\(field.name) not in the JSON")
                let decoded = try JSONDecoder().decode(Policy.self, from: data)
                #expect(decoded == parsed.policy, "\(field.name) does not round-trip")
            }
        }
        // Every field of the table has a JSON key, even those with no flag.
        var everything = Policy()
        for field in Policy.fields {
            if case .flag(let ref) = field.grammar {
                everything[keyPath: ref].toggle()
            } else {
                try field.apply(argument: Self.sample(field), to: &everything)
            }
            #expect(!field.isDefault(in: everything), "\(field.name)")
        }
        let data = try JSONEncoder().encode(everything)
        let object = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == Set(Policy.fields.map(\.name)))
        #expect(try JSONDecoder().decode(Policy.self, from: data) == everything)
    }

    @Test("values out of the table's ranges fail with exit 125 and a clear message", arguments: [
        (["-c", "150"], "--cpu: expected a percentage from 1 to 100, found '150'"),
        (["--cpu-cores", "2000"], "--cpu-cores: expected a list of CPUs from 0 to 1023 like 0,2,3, found '2000'"),
        (["--net-allow", "bad_host:80"], "invalid policy: net_allow: 'bad_host:80' names no valid host"),
        (["--extra-allow-syscall", "mount"], "invalid policy: extra_allow_syscalls: unknown group 'mount' (known: sysv_ipc)"),
        (["--extra-deny-syscall", "not_a_syscall"], "invalid policy: extra_deny_syscalls: unknown syscall 'not_a_syscall'"),
    ])
    func outOfRangeFailsTheRun(arguments: [String], message: String) throws {
        let run = try Fixture.runBare([Fixture.sandlockCLI, "run"] + arguments + ["--", "/bin/true"])
        #expect(run.status == 125)
        #expect(run.stderr.contains(message), "\(run.stderr)")
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
