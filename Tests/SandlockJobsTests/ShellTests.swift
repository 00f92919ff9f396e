import Foundation
import SandlockCore
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// `shell:`: what runs a string `run:`, and the default that fails a pipeline whose middle
/// command fails while `… | head` still succeeds.
@Suite struct ShellTests {
    static let policies = "policies:\n  base: { filesystem: { read: [/usr, /bin] } }\n"

    /// `body` sets `defaults` itself (with `policy: base`).
    func plan(_ body: String) throws -> Plan {
        let result = load("version: 1\n" + Self.policies + body, path: "valid/test.yaml")
        #expect(result.errors.isEmpty, "\(result.rendered)")
        return try #require(result.plan)
    }

    @Test("the nearest shell wins: stage, then defaults, then the top level, then the default; a list run takes none")
    func precedence() throws {
        let p = try plan("""
            shell: sh
            defaults: { policy: base, shell: bash }
            stages:
              own: { run: echo hi, shell: [/usr/bin/python3, -c, "{0}"] }
              fromDefaults: { run: echo hi }
              list: { run: [echo, hi], shell: sh }
            """)
        #expect(p.stage("own")?.processes[0].argv == ["/usr/bin/python3", "-c", "echo hi"])
        #expect(p.stage("fromDefaults")?.processes[0].argv == ["/bin/bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", "echo hi"])
        #expect(p.stage("list")?.processes[0].argv == ["echo", "hi"])
        let top = try plan("shell: sh\ndefaults: { policy: base }\nstages:\n  s: { run: echo hi }\n")
        #expect(top.stages[0].processes[0].argv == ["/bin/sh", "-ec", "echo hi"])
        let standard = try plan("defaults: { policy: base }\nstages:\n  s: { run: echo hi | wc -c }\n")
        let argv = standard.stages[0].processes[0].argv
        #expect(Array(argv.prefix(7)) == ["/bin/bash", "--noprofile", "--norc", "-E", "-o", "pipefail", "-c"])
        #expect(Shell.script(of: argv) == "echo hi | wc -c")
        #expect(standard.text.contains("echo hi | wc -c\n") && !standard.text.contains("trap"), "\(standard.text)")
    }

    @Test("a template without {0} and an unknown shell name are errors at the key")
    func badShells() {
        let noPlaceholder = load("version: 1\n" + basePolicy + "stages:\n  s: { run: echo hi, shell: [python3, -c] }\n", path: "valid/test.yaml")
        #expect(noPlaceholder.rendered.contains("stage 's': shell: a shell template needs \"{0}\" where the script goes"), "\(noPlaceholder.rendered)")
        let unknown = load("version: 1\n" + basePolicy + "shell: zsh\nstages:\n  s: { run: echo hi }\n", path: "valid/test.yaml")
        #expect(unknown.rendered.contains("shell"), "\(unknown.rendered)")
        #expect(unknown.rendered.contains("zsh") && !unknown.errors.isEmpty, "\(unknown.rendered)")
    }

    @Test("end to end: the default fails a pipeline whose middle command fails and passes `… | head`; sh loses the failure; bash counts SIGPIPE", needsKernel)
    func pipelinesInRunStrings() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (record, stages, directory) = try await job.run("""
            stages:
              middleFails: { run: "seq 10 | false | cat; echo not reached" }
              head: { run: "seq 1000000 | head -n 1; echo after head" }
              stopsAtFailure: { run: "false; echo not reached" }
              dash: { run: "seq 10 | false | cat; echo lost", shell: sh }
              bash: { run: "seq 1000000 | head -n 1", shell: bash }
              python: { run: "print(6 * 7)", shell: [/usr/bin/python3, -c, "{0}"] }
            """, options: RunOptions(jobs: 2, keepGoing: true))
        #expect(record.status == .failed)
        #expect(stages["middleFails"]?.status == .failed && stages["middleFails"]?.exitCode == 1)
        #expect(!contents(directory.stageDirectory("middleFails") + "/stdout.log").contains("not reached"))
        #expect(stages["stopsAtFailure"]?.status == .failed)
        // Positive controls: a pipeline cut short by `head`, the same script under sh, python.
        #expect(stages["head"]?.status == .succeeded)
        #expect(contents(directory.stageDirectory("head") + "/stdout.log") == "1\nafter head\n")
        #expect(stages["dash"]?.status == .succeeded && contents(directory.stageDirectory("dash") + "/stdout.log") == "lost\n")
        #expect(stages["bash"]?.status == .failed && stages["bash"]?.exitCode == 141)
        #expect(stages["python"]?.status == .succeeded && contents(directory.stageDirectory("python") + "/stdout.log") == "42\n")
    }
}
