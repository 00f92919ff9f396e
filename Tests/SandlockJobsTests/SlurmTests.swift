import Foundation
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// `run --executor slurm` against the real single-node Slurm `Scripts/slurm-setup.sh`
/// starts: the same manifest run locally and on Slurm ends with the same statuses, outputs
/// and change sets; Slurm's own failures (a rejected submission, no controller) are named
/// and leave nothing queued; Ctrl-C and `cancel` leave no job and no process.
@Suite("Slurm executor", .serialized, Fixture.needs(Requirement.workspaces + [.seccompUserNotification, .slurm]))
struct SlurmTests {
    let cli = RunnerCLITests()

    /// A manifest written into two fresh workdirs, run locally in one and on Slurm in the other.
    struct Pair {
        let local: RunnerJob
        let slurm: RunnerJob

        init(_ body: String, files: [String: String] = [:]) throws {
            local = try RunnerJob()
            slurm = try RunnerJob()
            for job in [local, slurm] {
                _ = try job.plan(body)
                for (name, text) in files { try job.write(name, text) }
            }
        }

        func remove() {
            local.remove()
            slurm.remove()
        }
    }

    static func latest(_ job: RunnerJob) throws -> RunDirectory {
        try #require(RunDirectory.find("latest", root: RunDirectory.runsRoot(workdir: job.directory)))
    }

    /// Runs both; returns their exit statuses and run directories.
    func runBoth(_ pair: Pair, _ extra: [String] = []) throws -> (local: Int32, slurm: Int32, RunDirectory, RunDirectory) {
        let local = try cli.run(["run", "--progress", "plain", "job.yaml"], in: pair.local.directory)
        let slurm = try cli.run(["run", "--progress", "plain", "--executor", "slurm"] + extra + ["job.yaml"], in: pair.slurm.directory)
        #expect(!slurm.stderr.contains("error:"), "\(slurm.stderr)")
        return (local.status, slurm.status, try Self.latest(pair.local), try Self.latest(pair.slurm))
    }

    /// What must agree between a local run and a run on Slurm of one manifest: each stage's
    /// status, reason, exit code and message, its logs, its shards' logs and counters, its
    /// change set; and the run's status.
    static func expectSame(_ local: RunDirectory, _ slurm: RunDirectory, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let localRun = try local.readRunRecord(), slurmRun = try slurm.readRunRecord()
        #expect(slurmRun.executor == "slurm" && localRun.executor == nil, sourceLocation: sourceLocation)
        #expect(localRun.status == slurmRun.status, sourceLocation: sourceLocation)
        #expect(localRun.stages == slurmRun.stages, sourceLocation: sourceLocation)
        for stage in localRun.plan.stages {
            let a = try #require(local.readStageRecord(stage.name), sourceLocation: sourceLocation)
            let b = try #require(slurm.readStageRecord(stage.name), "\(stage.name) has no record on Slurm", sourceLocation: sourceLocation)
            #expect(a.status == b.status && a.reason == b.reason && a.exitCode == b.exitCode, "\(stage.name)", sourceLocation: sourceLocation)
            #expect(a.message == b.message, "\(stage.name)", sourceLocation: sourceLocation)
            #expect(a.attemptCount == b.attemptCount, "\(stage.name)", sourceLocation: sourceLocation)
            #expect(a.shards?.succeeded == b.shards?.succeeded && a.shards?.failed == b.shards?.failed, "\(stage.name)", sourceLocation: sourceLocation)
            #expect(a.changes?.outcome == b.changes?.outcome, "\(stage.name)", sourceLocation: sourceLocation)
            for stream in RunDirectory.LogStream.allCases {
                #expect(contents(local.log(stream, of: stage.name)) == contents(slurm.log(stream, of: stage.name)), "\(stage.name) \(stream)", sourceLocation: sourceLocation)
            }
            for format in [RunDirectory.ChangesFormat.summary, .diff] {
                #expect(contents(local.changesFile(stage.name, format)) == contents(slurm.changesFile(stage.name, format)), "\(stage.name)", sourceLocation: sourceLocation)
            }
            if case .map(let map) = stage.work {
                for shard in 0..<(map.source.count ?? 0) {
                    #expect(contents(local.log(.stdout, of: stage.name, .shard(shard))) == contents(slurm.log(.stdout, of: stage.name, .shard(shard))), "\(stage.name) shard \(shard)", sourceLocation: sourceLocation)
                    #expect(local.readShardRecord(stage.name, shard)?.status == slurm.readShardRecord(stage.name, shard)?.status, "\(stage.name) shard \(shard)", sourceLocation: sourceLocation)
                }
            }
        }
    }

    /// The states of the run's jobs Slurm still lists that have not ended.
    static func activeJobs(of directory: RunDirectory) throws -> [String] {
        let ids = Set(SlurmRun.jobs(of: directory).compactMap(\.id))
        let queue = try Fixture.runBare(["/usr/bin/squeue", "-h", "-t", "PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED", "-o", "%F %i %T"])
        return queue.stdout.split(separator: "\n").filter { line in ids.contains(String(line.split(separator: " ").first ?? "")) }.map(String.init)
    }

    static let shape = """
        stages:
          make:
            run: mkdir -p out && echo made > out/made.txt
            policy: { extends: sys, filesystem: { write: [out] } }
          fan:
            needs: [make]
            map: { over: { items: [ant, bee, cat, dog, eel] }, max_parallel: 2 }
            run: echo "$SANDLOCK_SHARD $SANDLOCK_ITEM"
            reduce: { run: sort -r }
          chain:
            needs: [fan]
            run: cat out/made.txt
            policy: { extends: sys, filesystem: { read: [out] } }
          broken: { needs: [chain], run: "echo half; exit 3" }
          rescue: { needs: [broken], if: failure, run: echo rescued }
          cleanup: { needs: [broken], if: always, run: echo always }
          never: { needs: [broken], run: echo never }
          calm: { needs: [chain], if: failure, run: echo calm }
          tail: { needs: [rescue], run: echo tail }
        """

    @Test("fan-out, reducer, needs chain, a failure, if: failure and if: always: the same run directory as locally")
    func sameAsLocal() throws {
        let pair = try Pair(Self.shape)
        defer { pair.remove() }
        let (localStatus, slurmStatus, local, slurm) = try runBoth(pair)
        #expect(localStatus == 1 && slurmStatus == 1)
        try Self.expectSame(local, slurm)
        // The committed change reached the workdir, and what ran where it should.
        #expect(pair.slurm.read("out/made.txt") == "made\n")
        #expect(contents(slurm.log(.stdout, of: "fan")) == "4 eel\n3 dog\n2 cat\n1 bee\n0 ant\n")
        #expect(slurm.readStageRecord("rescue")?.status == .succeeded)
        #expect(slurm.readStageRecord("never")?.status == .skipped)
        #expect(slurm.readStageRecord("calm")?.status == .skipped)
        // Fail-fast across jobs: a stage that starts after the failure does not run.
        #expect(slurm.readStageRecord("tail")?.status == .cancelled)
        #expect(contents(slurm.changesFile("make", .summary)).contains("out/made.txt"))
        // show and logs read it as a local run.
        let show = try cli.run(["show", "latest"], in: pair.slurm.directory)
        #expect(show.status == 1 && show.stdout.contains("broken") && show.stdout.contains("exit 3"), "show of a failed run exits 1")
        let logs = try cli.run(["logs", "latest", "broken"], in: pair.slurm.directory)
        #expect(logs.stdout.contains("half"))
    }

    @Test("jobs/wordcount.yaml: byte-identical outputs and statuses on Slurm and locally")
    func wordcount() throws {
        let pair = try Pair("stages:\n  placeholder: { run: \"true\" }\n")
        defer { pair.remove() }
        for job in [pair.local, pair.slurm] {
            try FileManager.default.removeItem(atPath: job.directory + "/job.yaml")
            try FileManager.default.copyItem(atPath: Paths.root + "/jobs/wordcount.yaml", toPath: job.directory + "/job.yaml")
            try FileManager.default.copyItem(atPath: Paths.root + "/jobs/data", toPath: job.directory + "/data")
        }
        let (localStatus, slurmStatus, local, slurm) = try runBoth(pair)
        #expect(localStatus == 0 && slurmStatus == 0)
        try Self.expectSame(local, slurm)
        #expect(pair.local.read("out/files.txt") == pair.slurm.read("out/files.txt"))
        #expect(!contents(slurm.log(.stdout, of: "count")).isEmpty)
    }

    @Test("a 200-shard fan-out: byte-identical shard outputs and reduction on Slurm and locally")
    func wideFanOut() throws {
        let pair = try Pair("""
            stages:
              fan:
                map: { over: { shards: 200 } }
                run: echo "$SANDLOCK_SHARD of $SANDLOCK_SHARDS"
                reduce: { run: "awk '{s+=$1} END {print s}'" }
            """)
        defer { pair.remove() }
        let (localStatus, slurmStatus, local, slurm) = try runBoth(pair)
        #expect(localStatus == 0 && slurmStatus == 0)
        try Self.expectSame(local, slurm)
        #expect(contents(slurm.log(.stdout, of: "fan")) == "19900\n")
        #expect(slurm.readShardRecords("fan").count == 200)
    }

    @Test("plan --executor slurm: every script and what it waits for, judged by sbatch --test-only, nothing submitted")
    func planPreview() throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("""
            stages:
              first: { run: echo first }
              fan: { needs: [first], map: { over: { shards: 3 }, max_parallel: 2 }, run: echo fan, reduce: { run: cat } }
              fix: { needs: [fan], if: failure, run: echo fix }
            """)
        let output = try cli.run(["plan", "--executor", "slurm", "--partition", "debug", "job.yaml"], in: job.directory)
        #expect(output.status == 0, "\(output.stderr)")
        for line in ["# slurm/first.sbatch: a root", "#SBATCH --hold", "#SBATCH --array=0-2%2", "#SBATCH --partition=debug",
                     "#SBATCH --dependency=afterok:<first>", "#SBATCH --dependency=afterok:<fan>",
                     "#SBATCH --dependency=afternotok:<fan/reduce>", "# sbatch --test-only: sbatch: Job"] {
            #expect(output.stdout.contains(line), "\(line)")
        }
        #expect(!FileManager.default.fileExists(atPath: RunDirectory.runsRoot(workdir: job.directory)))
        // A partition Slurm does not have: each script's verdict says so.
        let wrong = try cli.run(["plan", "--executor", "slurm", "--partition", "nosuch", "job.yaml"], in: job.directory)
        #expect(wrong.stdout.contains("sbatch rejected") && wrong.stdout.contains("nosuch") || wrong.stdout.contains("invalid partition"), "\(wrong.stdout)")
    }

    @Test("a failing shard: tolerated with allow_failures (the reducer skips it), failing the stage without")
    func failingShard() throws {
        let pair = try Pair("""
            stages:
              tolerant:
                map: { over: { shards: 4 } }
                allow_failures: 1
                run: test "$SANDLOCK_SHARD" != 2 && echo "$SANDLOCK_SHARD"
                reduce: { run: cat }
              strict:
                needs: [tolerant]
                map: { over: { shards: 3 } }
                run: test "$SANDLOCK_SHARD" != 2
              after: { needs: [strict], run: echo after }
            """)
        defer { pair.remove() }
        let (localStatus, slurmStatus, local, slurm) = try runBoth(pair)
        #expect(localStatus == 1 && slurmStatus == 1)
        try Self.expectSame(local, slurm)
        let tolerant = try #require(slurm.readStageRecord("tolerant"))
        #expect(tolerant.status == .succeeded && tolerant.shards?.failed == 1)
        #expect(contents(slurm.log(.stdout, of: "tolerant")) == "0\n1\n3\n")
        let strict = try #require(slurm.readStageRecord("strict"))
        #expect(strict.status == .failed && strict.message?.contains("1 of 3 shards failed") == true)
        #expect(slurm.readStageRecord("after")?.status == .skipped)
        let scripts = try String(contentsOfFile: slurm.slurmScript("tolerant", .reduce), encoding: .utf8)
        #expect(scripts.contains("#SBATCH --dependency=afterany:"))
        #expect(try String(contentsOfFile: slurm.slurmScript("strict", .reduce), encoding: .utf8).contains("#SBATCH --dependency=afterok:"))
    }

    @Test("a timeout is the sandbox's, recorded as locally; retries run inside the job")
    func timeout() throws {
        let pair = try Pair("""
            stages:
              slow: { run: sleep 30, timeout: 1s, retry: { limit: 1, on: [timeout] } }
              fine: { run: echo fine }
            """)
        defer { pair.remove() }
        let (localStatus, slurmStatus, local, slurm) = try runBoth(pair)
        #expect(localStatus == 1 && slurmStatus == 1)
        try Self.expectSame(local, slurm)
        let slow = try #require(slurm.readStageRecord("slow"))
        #expect(slow.reason == .timeout && slow.attemptCount == 2)
        #expect(try String(contentsOfFile: slurm.slurmScript("slow", .stage), encoding: .utf8).contains("#SBATCH --time=0-00:02:00"))
    }

    @Test("--sbatch-arg lands in every script, and the scripts in slurm/ are exactly what Slurm was given")
    func scriptsAreWhatWasSubmitted() throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("""
            stages:
              one: { run: echo one }
              two: { needs: [one], map: { over: { shards: 2 } }, run: echo two }
            """)
        let marker = "sandlock-test-\(UUID().uuidString)"
        let output = try cli.run(["run", "--executor", "slurm", "--sbatch-arg=--comment=\(marker)", "job.yaml"], in: job.directory)
        #expect(output.status == 0, "\(output.stderr)")
        let directory = try Self.latest(job)
        let jobs = SlurmRun.jobs(of: directory)
        #expect(jobs.map(\.script) == ["slurm/one.sbatch", "slurm/two.sbatch", "slurm/two.reduce.sbatch"])
        for job in jobs {
            let script = try String(contentsOfFile: directory.path + "/" + job.script, encoding: .utf8)
            #expect(script.contains("#SBATCH --comment=\(marker)\n") && script.contains("#SBATCH --kill-on-invalid-dep=yes\n"))
            let id = try #require(job.id)
            let submitted = try Fixture.runBare(["/usr/bin/scontrol", "write", "batch_script", id, "-"])
            #expect(submitted.status == 0 && submitted.stdout == script, "\(job.script): \(submitted.stderr)")
        }
        let one = try String(contentsOfFile: directory.slurmScript("one", .stage), encoding: .utf8)
        #expect(one.contains("#SBATCH --hold\n"))
        #expect(try String(contentsOfFile: directory.slurmScript("two", .shards), encoding: .utf8).contains("#SBATCH --array=0-1\n"))
    }

    @Test("a rejected submission quotes sbatch, cancels what was already submitted and records why")
    func rejectedSubmission() throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("""
            stages:
              first: { run: echo first }
              huge: { needs: [first], run: echo huge, policy: { extends: sys, limits: { memory: 100T } } }
            """)
        let output = try cli.run(["run", "--executor", "slurm", "job.yaml"], in: job.directory)
        #expect(output.status == 1)
        #expect(output.stderr.contains("sbatch rejected") && output.stderr.contains("huge.sbatch"), "\(output.stderr)")
        let directory = try Self.latest(job)
        #expect(try Self.activeJobs(of: directory).isEmpty)
        let record = try directory.readRunRecord()
        #expect(record.status == .failed)
        let first = try #require(directory.readStageRecord("first"))
        #expect(first.status == .cancelled && first.message?.contains("submission failed") == true)
        // Positive control: the same manifest without the impossible request runs.
        _ = try job.plan("""
            stages:
              first: { run: echo first }
              huge: { needs: [first], run: echo huge, policy: { extends: sys, limits: { memory: 64M } } }
            """)
        #expect(try cli.run(["run", "--executor", "slurm", "job.yaml"], in: job.directory).status == 0)
    }

    /// A stage that says it started through a FIFO (the test's read returns when it wrote),
    /// then sleeps until cancelled.
    static func blockingStage(_ fifo: String, marker: String) -> String {
        """
        stages:
          long:
            run: echo started > \(fifo) && sleep \(marker)
            policy: { extends: sys, filesystem: { write: [\(fifo)] } }
          after: { needs: [long], run: echo after }
        """
    }

    /// Blocks until a writer opened `fifo` and wrote (bounded, so a job that never starts
    /// fails the test instead of hanging it).
    static func awaitStart(_ fifo: String) throws {
        let fd = open(fifo, O_RDONLY | O_NONBLOCK)
        try #require(fd >= 0)
        defer { close(fd) }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var buffer = [UInt8](repeating: 0, count: 16)
        while true {
            let ready = poll(&entry, 1, 120_000)
            try #require(ready > 0, "the job did not start within 2 minutes")
            if read(fd, &buffer, buffer.count) > 0 { return }
        }
    }

    @Test("SIGINT on a waiting run cancels its jobs: exit 130, nothing queued, no process left")
    func interrupt() async throws {
        let job = try RunnerJob(), side = try RunnerJob()
        defer { job.remove(); side.remove() }
        // Outside the workdir, which the stage would see copy-on-write.
        let fifo = side.directory + "/started.fifo"
        #expect(mkfifo(fifo, 0o644) == 0)
        let marker = "33\(Int.random(in: 100...999)).5"
        _ = try job.plan(Self.blockingStage(fifo, marker: marker))
        let p = try cli.start(["run", "--progress", "plain", "--executor", "slurm", "job.yaml"], in: job.directory)
        try Self.awaitStart(fifo)
        // The positive control: the stage is running (its shell may show twice while it forks sleep).
        #expect(!cli.alive("sleep \(marker)").isEmpty)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130, "\(contents(job.directory + "/cli.err"))")
        let directory = try Self.latest(job)
        #expect(try Self.activeJobs(of: directory).isEmpty)
        #expect(cli.alive("sleep \(marker)").isEmpty)
        #expect(try directory.readRunRecord().status == .interrupted)
        #expect(directory.readStageRecord("long")?.status == .cancelled)
        #expect(directory.readStageRecord("after")?.status == .cancelled)
    }

    @Test("--detach, status while it runs, then completion; cancel leaves no job and no process")
    func detachStatusCancel() throws {
        let job = try RunnerJob(), side = try RunnerJob()
        defer { job.remove(); side.remove() }
        // Outside the workdir, which the stage would see copy-on-write.
        let fifo = side.directory + "/started.fifo"
        #expect(mkfifo(fifo, 0o644) == 0)
        let marker = "34\(Int.random(in: 100...999)).5"
        _ = try job.plan(Self.blockingStage(fifo, marker: marker))
        let submitted = try cli.run(["run", "--executor", "slurm", "--detach", "job.yaml"], in: job.directory)
        #expect(submitted.status == 0 && submitted.stdout.contains("slurm jobs: long="), "\(submitted.stderr)")
        try Self.awaitStart(fifo)
        let running = try cli.run(["status", "latest"], in: job.directory)
        #expect(running.status == 2, "\(running.stderr)")
        let cancelled = try cli.run(["cancel", "latest"], in: job.directory)
        #expect(cancelled.status == 0, "\(cancelled.stderr)")
        let directory = try Self.latest(job)
        #expect(try Self.activeJobs(of: directory).isEmpty)
        #expect(cli.alive("sleep \(marker)").isEmpty)
        #expect(try directory.readRunRecord().status == .interrupted)
        #expect(directory.readStageRecord("long")?.status == .cancelled)

        // Positive control: a detached run that is left alone ends, and status says so.
        _ = try job.plan("stages:\n  quick: { run: echo quick }\n")
        let quick = try cli.run(["run", "--executor", "slurm", "--detach", "job.yaml"], in: job.directory)
        let id = try #require(quick.stdout.split(separator: "=").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        // Slurm itself waits for the job: a job depending on it, submitted with --wait.
        let waited = try Fixture.runBare(["/usr/bin/sbatch", "--wait", "--dependency=afterany:\(id)", "--output=/dev/null", "--wrap", "true"])
        #expect(waited.status == 0, "\(waited.stderr)")
        let done = try cli.run(["status", "latest"], in: job.directory)
        #expect(done.status == 0, "\(done.stderr)")
        #expect(try Self.latest(job).readRunRecord().status == .succeeded)
    }

    @Test("squeue's text format (Slurm without --json) gives the states --json gives")
    func queueFormats() throws {
        let held = try Fixture.runBare(["/usr/bin/sbatch", "--parsable", "--hold", "--array=0-2", "--output=/dev/null", "--wrap", "true"])
        let id = try #require(Int(held.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(held.stderr)")
        defer { _ = try? Fixture.runBare(["/usr/bin/scancel", String(id)]) }
        func summary(_ states: [SlurmClient.JobState]) -> [String] {
            states.filter { $0.jobID == id || $0.arrayJobID == id }.map { "\($0.jobID) \($0.state) \($0.reason ?? "")" }.sorted()
        }
        let json = summary(try SlurmClient.states()), text = summary(try SlurmClient.listedStates())
        #expect(!json.isEmpty && json == text)
        #expect(json.allSatisfy { $0.contains("PENDING") && $0.contains("JobHeldUser") })
    }

    @Test("no Slurm: a clear error naming what is missing, and nothing run")
    func slurmMissing() throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("stages:\n  one: { run: echo one }\n")
        let noClients = try cli.run(["run", "--executor", "slurm", "job.yaml"], in: job.directory, environment: ["PATH": "/nonexistent"])
        #expect(noClients.status == 1)
        #expect(noClients.stderr.contains("'sinfo' is not in PATH"), "\(noClients.stderr)")
        // A controller nobody runs: a configuration pointing at a closed port.
        let conf = job.directory + "/nowhere.conf"
        try "ClusterName=nowhere\nSlurmctldHost=localhost\nSlurmctldPort=1\nNodeName=localhost\nPartitionName=p Nodes=ALL\n"
            .write(toFile: conf, atomically: true, encoding: .utf8)
        let noController = try cli.run(["run", "--executor", "slurm", "job.yaml"], in: job.directory, environment: ["SLURM_CONF": conf])
        #expect(noController.status == 1)
        #expect(noController.stderr.contains("the Slurm controller does not answer"), "\(noController.stderr)")
        // Refused before anything was made: no run directory.
        #expect(RunDirectory.find("latest", root: RunDirectory.runsRoot(workdir: job.directory)) == nil)
    }

    @Test("escape: a newline in the manifest's name or the workdir cannot add a line to the unsandboxed sbatch script")
    func scriptInjection() throws {
        let job = try RunnerJob(), side = try RunnerJob()
        defer { job.remove(); side.remove() }
        let pwned = side.directory + "/pwned"
        let injected = "x\ntouch \(pwned)\n#"
        try job.write("job.yaml", "version: 1\nname: \(injected.debugDescription)\n" + RunnerJob.systemPolicy + "stages:\n  one: { run: echo one }\n")
        let byName = try cli.run(["run", "--executor", "slurm", "job.yaml"], in: job.directory)
        #expect(byName.status != 0 && byName.stderr.contains("contains a control character"), "\(byName.stderr)")
        let workdir = job.directory + "/dir\ntouch \(pwned)"
        try FileManager.default.createDirectory(atPath: workdir, withIntermediateDirectories: true)
        // `#SBATCH --chdir=<workdir>/dir` would be valid, and the next line a root shell command.
        try FileManager.default.createDirectory(atPath: job.directory + "/dir", withIntermediateDirectories: true)
        try job.write("job.yaml", "version: 1\nname: ok\nworkdir: \(workdir.debugDescription)\n" + RunnerJob.systemPolicy + "stages:\n  one: { run: echo one }\n")
        let byWorkdir = try cli.run(["run", "--executor", "slurm", "--run-dir", side.directory + "/run", "job.yaml"], in: job.directory)
        #expect(byWorkdir.status != 0 && byWorkdir.stderr.contains("the workdir"), "\(byWorkdir.stderr)")
        let plan = try cli.run(["plan", "--executor", "slurm", "job.yaml"], in: job.directory)
        #expect(plan.status != 0 && plan.stderr.contains("control character"), "\(plan.stderr)")
        #expect(!FileManager.default.fileExists(atPath: pwned))
        #expect(!FileManager.default.fileExists(atPath: side.directory + "/run"))
        // Positive control: an ordinary name with a space runs, labelled with '_'.
        try job.write("job.yaml", "version: 1\nname: word count\n" + RunnerJob.systemPolicy + "stages:\n  one: { run: echo one }\n")
        let fine = try cli.run(["run", "--executor", "slurm", "job.yaml"], in: job.directory)
        #expect(fine.status == 0, "\(fine.stderr)")
        let script = try String(contentsOfFile: try Self.latest(job).slurmScript("one", .stage), encoding: .utf8)
        #expect(script.contains("#SBATCH --job-name=word_count/one\n"))
    }

    @Test("refused before submission: a run directory on tmpfs, --dry-run, a copy-on-write map, parallel copy-on-write stages")
    func refusals() throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("""
            stages:
              a: { run: "mkdir -p x && echo a > x/a", policy: { extends: sys, filesystem: { write: [x] } } }
              b: { run: "mkdir -p x && echo b > x/b", policy: { extends: sys, filesystem: { write: [x] } } }
            """)
        // /dev/shm is a tmpfs: only this machine sees it.
        let shm = "/dev/shm/sandlock-slurm-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: shm) }
        let local = try cli.run(["run", "--executor", "slurm", "--run-dir", shm, "job.yaml"], in: job.directory)
        #expect(local.status == 1 && local.stderr.contains("the run directory \(shm) is on tmpfs"), "\(local.stderr)")
        #expect(!FileManager.default.fileExists(atPath: shm))
        let dry = try cli.run(["run", "--executor", "slurm", "--dry-run", "job.yaml"], in: job.directory)
        #expect(dry.status == 1 && dry.stderr.contains("--dry-run is not supported with --executor slurm"))
        let parallel = try cli.run(["run", "--executor", "slurm", "job.yaml"], in: job.directory)
        #expect(parallel.status == 1 && parallel.stderr.contains("stages 'a' and 'b' both write the workdir"), "\(parallel.stderr)")
        #expect(job.read("x/a") == nil)
        _ = try job.plan("""
            stages:
              m: { map: { over: { shards: 2 } }, run: "mkdir -p x", policy: { extends: sys, filesystem: { write: [x] } } }
            """)
        let map = try cli.run(["run", "--executor", "slurm", "job.yaml"], in: job.directory)
        #expect(map.status == 1 && map.stderr.contains("stage 'm': a map stage that writes inside the workdir"), "\(map.stderr)")
        // Positive control: chained, the two copy-on-write stages run and commit.
        _ = try job.plan("""
            stages:
              a: { run: "mkdir -p x && echo a > x/a", policy: { extends: sys, filesystem: { write: [x] } } }
              b: { needs: [a], run: "mkdir -p x && echo b > x/b", policy: { extends: sys, filesystem: { write: [x] } } }
            """)
        let chained = try cli.run(["run", "--executor", "slurm", "job.yaml"], in: job.directory)
        #expect(chained.status == 0, "\(chained.stderr)")
        #expect(job.read("x/a") == "a\n" && job.read("x/b") == "b\n")
    }
}
