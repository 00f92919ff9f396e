import Foundation
import SandlockCore
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// Contracts of the CLI a script relies on: exit codes of `show`, `--version`, and failure
/// reports that show what the failed process printed.
extension RunnerCLITests {
    @Test("show exits 1 for a failed run and 0 for a succeeded one; the summary shows stdout when stderr is empty; JUnit says skipped once")
    func showExitCodesAndStdoutTails() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("""
            stages:
              tests: { run: "echo collected 3 items; echo '1 failed, 2 passed'; exit 1" }
              silent: { run: "exit 2" }
              after: { run: echo never, needs: [tests] }
              fine: { run: echo fine }
            """)
        let failed = try run(["run", "--progress", "plain", "--keep-going", "--junit", "report.xml", "job.yaml"], in: job.directory)
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("    stdout, last 2 lines:\n    | collected 3 items\n    | 1 failed, 2 passed\n"), "\(failed.stderr)")
        #expect(failed.stderr.contains("/stages/tests/stdout.log"))
        #expect(failed.stderr.contains("✗ stage 'silent' failed: exit 2\n"))
        #expect(!failed.stderr.contains("is empty"), "\(failed.stderr)")
        let show = try run(["show", "latest"], in: job.directory)
        #expect(show.status == 1)
        #expect(show.stdout.contains("| 1 failed, 2 passed"))
        let junit = contents(job.directory + "/report.xml")
        #expect(junit.contains("<skipped message=\"skipped: needed stage &apos;tests&apos; failed\"/>")
            || junit.contains("<skipped message=\"skipped: needed stage 'tests' failed\"/>"), "\(junit)")
        #expect(!junit.contains("skipped: skipped:"))
        #expect(junit.contains("1 failed, 2 passed"))

        // Positive control: a run that succeeded shows with 0.
        let ok = try run(["run", "--progress", "plain", "--only", "fine", "job.yaml"], in: job.directory)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(try run(["show", "latest"], in: job.directory).status == 0)
    }

    @Test("sandlock-jobs --version prints the version")
    func version() throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let printed = try run(["--version"], in: job.directory)
        #expect(printed.status == 0 && printed.stdout == SandlockVersion.current + "\n")
    }
}

/// A run whose runner died without recording its end reads as `interrupted`.
@Suite("Runner liveness")
struct RunnerLivenessTests {
    @Test("a running run reads as running while its runner holds runner.lock, as interrupted once the runner is gone")
    func runningUntilTheLockIsGone() throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let plan = try job.plan("stages:\n  a: { run: \"true\" }\n")
        var runner: RunDirectory? = try RunDirectory.create(workdir: plan.workdir, explicit: nil)
        let path = try #require(runner?.path)
        try runner?.runStarted(RunRecord(
            id: "r", name: "test", manifest: plan.manifestPath, manifestSHA256: "", workdir: plan.workdir,
            runDirectory: path, commandLine: [], landlockABI: 0, jobs: 1, keepGoing: false, selected: nil,
            status: .running, started: .now, stages: [.init(name: "a", status: nil)], plan: plan))
        let reader = RunDirectory(path: path)
        #expect(try reader.readRunRecord().status == .running)
        #expect(!reader.runnerIsGone)
        runner = nil  // the runner's end: its lock's descriptor closes
        #expect(reader.runnerIsGone)
        #expect(try reader.readRunRecord().status == .interrupted)
    }
}
extension RunnerCLITests {
    @Test("from the folder a manifest was run in, runs, show latest, logs and diff find its runs in a workdir elsewhere")
    func runsFoundFromTheManifestsFolder() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        try job.write("tree/keep.txt", "kept\n")
        _ = try job.plan("""
            workdir: tree
            stages:
              s:
                run: echo hello > hello.txt; echo done
                policy: { extends: [sys], filesystem: { write: [\(job.directory)/tree] } }
            """)
        let ran = try run(["run", "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(ran.status == 0, "\(ran.stderr)")
        let runs = try run(["runs"], in: job.directory)
        #expect(runs.status == 0 && runs.stdout.contains("succeeded"), "\(runs.stdout)\(runs.stderr)")
        #expect(!runs.stdout.contains("unreadable") && !runs.stdout.contains("tree"), "\(runs.stdout)")
        #expect(try run(["show", "latest"], in: job.directory).status == 0)
        #expect(try run(["logs", "latest", "s"], in: job.directory).stdout == "done\n")
        let diff = try run(["diff", "latest", "s"], in: job.directory)
        #expect(diff.status == 0 && diff.stdout.contains("+++ b/hello.txt\n@@ -0,0 +1 @@\n+hello\n"), "\(diff.stdout)\(diff.stderr)")
        // Positive control of the lookup: the workdir's runs are where --in finds them too.
        #expect(try run(["runs", "--in", "tree"], in: job.directory).stdout == runs.stdout)
    }
}

extension RunnerCLITests {
    @Test("runs prune --keep N and --older-than D remove old runs, spare a run with a kept workspace and keep latest valid")
    func prune() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("""
            stages:
              s: { run: echo hi }
              held:
                run: echo kept > kept.txt
                on_success: keep
                policy: { extends: [sys], filesystem: { write: [\(job.directory)] } }
            """)
        #expect(try run(["run", "--progress", "plain", "job.yaml"], in: job.directory).status == 0)
        for _ in 0..<3 { #expect(try run(["run", "--progress", "plain", "--only", "s", "job.yaml"], in: job.directory).status == 0) }
        let before = try run(["runs"], in: job.directory).stdout.split(separator: "\n").dropFirst().map { String($0.prefix { $0 != " " }) }
        #expect(before.count == 4)

        let pruned = try run(["runs", "prune", "--keep", "1"], in: job.directory)
        #expect(pruned.status == 0, "\(pruned.stderr)")
        #expect(pruned.stdout == "removed \(before[1])\nremoved \(before[2])\n", "\(pruned.stdout)")
        #expect(pruned.stderr.contains("kept \(before[3]): stage 'held' kept its workspace"), "\(pruned.stderr)")
        let after = try run(["runs"], in: job.directory).stdout
        #expect(after.contains(before[0]) && after.contains(before[3]) && !after.contains(before[1]))
        #expect(try run(["show", "latest"], in: job.directory).stdout.contains(before[0]))

        // Discarded, the held run goes too; the newest stays with --older-than when it is young.
        #expect(try run(["discard", before[3], "held"], in: job.directory).status == 0)
        let old = try run(["runs", "prune", "--older-than", "1h"], in: job.directory)
        #expect(old.stdout.isEmpty && old.stderr.contains("nothing to remove"), "\(old.stdout)\(old.stderr)")
        #expect(try run(["runs", "prune", "--keep", "1"], in: job.directory).stdout == "removed \(before[3])\n")
        #expect(try run(["runs", "prune"], in: job.directory).status == 64)
    }
}
