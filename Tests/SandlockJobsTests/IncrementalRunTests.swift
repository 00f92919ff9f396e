import Foundation
import SandlockCore
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// Incremental runs through `sandlock-jobs run` and `resume` on real files: what reruns,
/// what is reused, what `--explain` says, what a corrupted store or a killed runner leaves.
@Suite("Incremental runs", needsWorkspaces)
struct IncrementalRunTests {
    let cli = RunnerCLITests()

    /// A map-reduce over `items` files: `prepare` copies a config (declared input and output),
    /// `count` counts each item's bytes in its own sandbox and the reducer adds them up into
    /// out/total.txt, `report` copies the total.
    static func manifest(reducer: String = "awk '{s+=$1} END {print s}' > out/total.txt", extraRead: String = "",
                         greeting: String = "hello", worker: String = "wc -c < \"$SANDLOCK_ITEM\"",
                         defaults: String = "{ policy: sys }") -> String {
        """
        version: 1
        name: incremental
        policies:
          sys: { filesystem: { read: [/usr, /lib, /lib64, /bin, /etc] }, environment: { clean: true } }
          reader: { extends: sys, filesystem: { read: [data\(extraRead)] } }
          writer: { extends: sys, filesystem: { read: [data], write: [out] } }
        defaults: \(defaults)
        stages:
          prepare:
            run: mkdir -p out && cat data/config.txt > out/config.copy && echo "$GREETING" > out/greeting.txt
            policy: writer
            env: { GREETING: \(greeting) }
            inputs: [data/config.txt]
            outputs: [out/config.copy]
          count:
            needs: [prepare]
            map: { over: { glob: "data/items/*.txt" }, max_parallel: 2 }
            run: '\(worker)'
            policy: reader
            reduce: { run: "\(reducer)", policy: writer }
          report:
            needs: [count]
            run: cp out/total.txt out/report.txt
            policy: writer

        """
    }

    /// A manifest of `stages` (indented under `stages:`) whose policy reads the system trees
    /// and writes `writing`.
    static func oneStage(writing: String, _ stages: String) -> String {
        """
        version: 1
        name: one
        policies:
          sys: { filesystem: { read: [/usr, /lib, /lib64, /bin, /etc], write: [\(writing)] } }
        defaults: { policy: sys }
        stages:
        \(stages)

        """
    }

    struct Job {
        let directory: String
        let items: Int

        init(items: Int) throws {
            let job = try RunnerJob()
            directory = job.directory
            self.items = items
            try job.write("data/config.txt", "threads=4\n")
            for i in 0..<items { try job.write("data/items/item\(String(format: "%04d", i)).txt", String(repeating: "x", count: i + 1)) }
            try job.write("job.yaml", IncrementalRunTests.manifest())
        }

        var expectedTotal: Int { items * (items + 1) / 2 }
        func write(_ name: String, _ text: String) throws { try RunnerJob(at: directory).write(name, text) }
        func read(_ name: String) -> String { contents(directory + "/" + name) }
        func remove() { try? FileManager.default.removeItem(atPath: directory) }

        var latest: RunDirectory { RunDirectory(path: directory + "/.sandlock-jobs/runs/" + ((try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/.sandlock-jobs/runs/latest")) ?? "")) }
    }

    /// Processes the run started, from its records: command attempts, reducer attempts and
    /// shard attempts. A stage reused whole has none of its own (its linked `shards.jsonl`
    /// is the producing run's).
    func spawned(_ run: RunDirectory, stages: [String] = ["prepare", "count", "report"]) -> [String: Int] {
        var counts: [String: Int] = [:]
        for stage in stages {
            guard let record = run.readStageRecord(stage) else { continue }
            let reused = record.cache?.outcome == .cached
            let shards = reused ? 0 : run.readShardRecords(stage).reduce(0) { $0 + $1.attempts.count }
            counts[stage] = record.attempts.count + (record.reduceAttempts?.count ?? 0) + shards
        }
        return counts
    }

    func outcome(_ run: RunDirectory, _ stage: String) -> CacheNote.Outcome? { run.readStageRecord(stage)?.cache?.outcome }

    @discardableResult
    func run(_ job: Job, _ extra: [String] = []) throws -> RunnerCLITests.Output {
        let output = try cli.run(["run", "--progress", "plain", "--explain"] + extra + ["job.yaml"], in: job.directory)
        #expect(output.status == 0, "\(output.stderr)")
        return output
    }

    @Test("an unchanged re-run reuses every stage and shard and starts no process; touch without change too")
    func unchangedRerun() throws {
        let job = try Job(items: 10)
        defer { job.remove() }
        try run(job)
        #expect(spawned(job.latest) == ["prepare": 1, "count": 11, "report": 1])
        #expect(job.read("out/report.txt") == "\(job.expectedTotal)\n")

        let second = try run(job)
        #expect(spawned(job.latest) == ["prepare": 0, "count": 0, "report": 0])
        for stage in ["prepare", "count", "report"] { #expect(outcome(job.latest, stage) == .cached) }
        #expect(second.stderr.contains("12 cached, 0 ran"), "\(second.stderr)")
        // The logs are the producing run's, linked.
        #expect(contents(job.latest.log(.stdout, of: "count", .shard(3))) == "4\n")
        // Once the producing run is gone, from the store's objects.
        let producing = try #require(job.latest.readStageRecord("count")?.cache?.from)
        try FileManager.default.removeItem(atPath: job.directory + "/.sandlock-jobs/runs/" + producing)
        try run(job)
        #expect(outcome(job.latest, "count") == .cached)
        #expect(contents(job.latest.log(.stdout, of: "count", .shard(3))) == "4\n")

        // New mtime and ctime, same contents: the digests say nothing changed.
        let now = Date()
        try FileManager.default.setAttributes([.modificationDate: now], ofItemAtPath: job.directory + "/data/items/item0003.txt")
        try FileManager.default.setAttributes([.modificationDate: now], ofItemAtPath: job.directory + "/data/config.txt")
        try run(job)
        #expect(spawned(job.latest) == ["prepare": 0, "count": 0, "report": 0])
    }

    @Test("changing one of many map inputs reruns that shard, the reducer and what needs it")
    func oneChangedInput() throws {
        let job = try Job(items: 40)
        defer { job.remove() }
        try run(job)
        try job.write("data/items/item0007.txt", "changed contents")
        let output = try run(job)
        let run = job.latest
        #expect(spawned(run) == ["prepare": 0, "count": 2, "report": 1])
        #expect(run.readStageRecord("count")?.shards?.cached == 39)
        #expect(output.stderr.contains("1 of 40 shards ran (39 cached): data/items/item0007.txt"), "\(output.stderr)")
        #expect(job.read("out/report.txt") == "\(job.expectedTotal - 8 + 16)\n")
    }

    @Test("a policy grant, an environment variable or a command change reruns that stage and its dependants, and --explain names it")
    func keyChanges() throws {
        let job = try Job(items: 4)
        defer { job.remove() }
        try run(job)

        try job.write("job.yaml", Self.manifest(extraRead: ", /usr/share"))
        var output = try run(job)
        #expect(spawned(job.latest) == ["prepare": 0, "count": 5, "report": 1])
        #expect(output.stderr.contains("policy changed: fs_readable"), "\(output.stderr)")
        #expect(output.stderr.contains("upstream reran: count"), "\(output.stderr)")

        try job.write("job.yaml", Self.manifest(extraRead: ", /usr/share", greeting: "bonjour"))
        output = try run(job)
        #expect(spawned(job.latest) == ["prepare": 1, "count": 5, "report": 1])
        #expect(output.stderr.contains("environment changed: GREETING"), "\(output.stderr)")
        #expect(job.read("out/greeting.txt") == "bonjour\n")

        try job.write("job.yaml", Self.manifest(reducer: "awk '{s+=$1} END {print s+0}' > out/total.txt", extraRead: ", /usr/share", greeting: "bonjour"))
        output = try run(job)
        // Only the reducer's command changed: every shard is reused.
        #expect(spawned(job.latest) == ["prepare": 0, "count": 1, "report": 1])
        #expect(output.stderr.contains("command changed: reduce"), "\(output.stderr)")

        // Positive control: back to a key run before, it is reused whole.
        try job.write("job.yaml", Self.manifest())
        try run(job)
        #expect(spawned(job.latest) == ["prepare": 0, "count": 0, "report": 0])
        #expect(job.read("out/greeting.txt") == "hello\n")
    }

    @Test("a deleted declared output is put back from the store, not rerun; --no-cache runs everything")
    func deletedOutput() throws {
        let job = try Job(items: 3)
        defer { job.remove() }
        try run(job)
        try FileManager.default.removeItem(atPath: job.directory + "/out/config.copy")
        try FileManager.default.removeItem(atPath: job.directory + "/out/report.txt")
        let output = try run(job)
        #expect(spawned(job.latest) == ["prepare": 0, "count": 0, "report": 0])
        #expect(output.stderr.contains("outputs put back: out/config.copy"), "\(output.stderr)")
        #expect(job.read("out/config.copy") == "threads=4\n")
        // report's committed change set is its output too.
        #expect(job.read("out/report.txt") == "\(job.expectedTotal)\n")

        try run(job, ["--no-cache"])
        #expect(spawned(job.latest) == ["prepare": 1, "count": 4, "report": 1])
    }

    @Test("a corrupted store object or entry is a miss with a warning, never a wrong output")
    func corruptedStore() throws {
        let job = try Job(items: 3)
        defer { job.remove() }
        try run(job)
        // Corrupt the stored copy of out/config.copy, then make the stage need it.
        let digest = SHA256.hex(of: Array("threads=4\n".utf8))
        let object = job.directory + "/.sandlock-jobs/cache/objects/" + digest.prefix(2) + "/" + digest
        #expect(FileManager.default.fileExists(atPath: object))
        try "threads=1\n".write(toFile: object, atomically: false, encoding: .utf8)
        try FileManager.default.removeItem(atPath: job.directory + "/out/config.copy")
        var output = try run(job)
        #expect(output.stderr.contains("is corrupted"), "\(output.stderr)")
        #expect(spawned(job.latest)["prepare"] == 1)
        #expect(job.read("out/config.copy") == "threads=4\n")

        // A half-written entry file.
        let key = try #require(job.latest.readStageRecord("report")?.cache?.key)
        let entry = job.directory + "/.sandlock-jobs/cache/entries/" + key.prefix(2) + "/" + key + ".json"
        try "{\"key\": \"".write(toFile: entry, atomically: false, encoding: .utf8)
        output = try run(job)
        #expect(output.stderr.contains("unreadable"), "\(output.stderr)")
        #expect(spawned(job.latest) == ["prepare": 0, "count": 0, "report": 1])
    }

    @Test("plan --explain says which stages and shards a run would reuse; JUnit marks cached stages skipped; cache: false always runs")
    func planExplainJUnitAndDisabled() throws {
        let job = try Job(items: 5)
        defer { job.remove() }
        try run(job)
        try job.write("data/items/item0002.txt", "new contents")
        let plan = try cli.run(["plan", "--explain", "job.yaml"], in: job.directory)
        #expect(plan.status == 0, "\(plan.stderr)")
        let lines = plan.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).prefix(2).joined(separator: " ") }
        #expect(lines == ["STAGE WOULD", "prepare reuse", "count run", "report run"], "\(plan.stdout)")
        #expect(plan.stdout.contains("1 of 5 shards would run: data/items/item0002.txt"), "\(plan.stdout)")
        #expect(plan.stdout.contains("upstream reran: count"), "\(plan.stdout)")

        try run(job, ["--junit", "report.xml"])
        let xml = job.read("report.xml")
        #expect(xml.contains("name=\"prepare\" time=\"0.0\">\n      <skipped message=\"skipped: cached (run "), "\(xml)")
        #expect(xml.contains("<skipped message=\"skipped: cached (run "), "\(xml)")
        #expect(!xml.contains("name=\"report\" time=\"0.0\">\n      <skipped"), "report ran: \(xml)")

        try job.write("job.yaml", Self.manifest(defaults: "{ policy: sys, cache: false }"))
        let output = try run(job)
        #expect(spawned(job.latest) == ["prepare": 1, "count": 6, "report": 1])
        #expect(output.stderr.contains("cache disabled (cache: false)"), "\(output.stderr)")
    }

    @Test("--refresh reruns a stage and what needs it; cache prune removes entries by run and the objects only they used")
    func refreshAndPrune() throws {
        let job = try Job(items: 3)
        defer { job.remove() }
        try run(job)
        let output = try run(job, ["--refresh", "count"])
        #expect(spawned(job.latest) == ["prepare": 0, "count": 4, "report": 1])
        #expect(output.stderr.contains("--refresh count (upstream)"), "\(output.stderr)")
        let unknown = try cli.run(["run", "--refresh", "nope", "job.yaml"], in: job.directory)
        #expect(unknown.status == 64 && unknown.stderr.contains("--refresh: no stage 'nope'"), "\(unknown.stderr)")

        let list = try cli.run(["cache", "list", "--in", "job.yaml"], in: job.directory)
        #expect(list.status == 0, "\(list.stderr)")
        let rows = list.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).prefix(3).joined(separator: " ") }
        #expect(rows.prefix(4) == ["STAGE RESULTS SHARDS", "count 1 3", "prepare 1 0", "report 1 0"], "\(list.stdout)")

        // Objects are older than the grace hour; the refresh run stored count's and report's
        // entries again, so keeping one run drops only prepare's.
        let objects = job.directory + "/.sandlock-jobs/cache/objects"
        let old = Date().addingTimeInterval(-7200)
        for object in FileManager.default.subpaths(atPath: objects) ?? [] where object.count > 3 {
            try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: objects + "/" + object)
        }
        let pruned = try cli.run(["cache", "prune", "--keep-runs", "1", "--in", "job.yaml"], in: job.directory)
        #expect(pruned.status == 0, "\(pruned.stderr)")
        #expect(pruned.stdout.hasPrefix("removed 1 entries and "), "\(pruned.stdout)")
        #expect(!pruned.stdout.hasPrefix("removed 1 entries and 0 objects"), "\(pruned.stdout)")
        // What the remaining entries refer to is still there: they are reused; prepare runs.
        try run(job)
        #expect(spawned(job.latest) == ["prepare": 1, "count": 0, "report": 0])
        #expect(job.read("out/report.txt") == "\(job.expectedTotal)\n")
    }

    @Test("resume after a reducer failure reruns only the reducer; the shards' results are kept")
    func resumeAfterReducerFailure() throws {
        let job = try Job(items: 6)
        defer { job.remove() }
        try job.write("job.yaml", Self.manifest(reducer: "exit 3"))
        let failed = try cli.run(["run", "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(failed.status == 1)
        let run = job.latest
        #expect(spawned(run)["count"] == 7)

        try job.write("job.yaml", Self.manifest())
        // --no-cache: what is kept is kept by resume, not found in the store.
        let output = try cli.run(["resume", "--no-cache", "--explain", "--progress", "plain", "--in", "job.yaml", run.id], in: job.directory)
        #expect(output.status == 0, "\(output.stderr)")
        #expect(job.latest.path == run.path)
        #expect(outcome(run, "prepare") == .kept)
        // Six shard attempts of the first run, none more; one reducer attempt now.
        #expect(run.readShardRecords("count").reduce(0) { $0 + $1.attempts.count } == 6)
        #expect(run.readStageRecord("count")?.reduceAttempts?.count == 1)
        #expect(run.readStageRecord("count")?.shards?.cached == 6)
        #expect(job.read("out/report.txt") == "\(job.expectedTotal)\n")
        let record = try run.readRunRecord()
        #expect(record.earlierAttempts?.map(\.status) == [.failed])
        #expect(record.status == .succeeded)
    }

    @Test("resume after SIGKILL of the runner mid-fan-out keeps the finished shards and ends as an uninterrupted run")
    func resumeAfterKill() async throws {
        let job = try Job(items: 8)
        defer { job.remove() }
        #expect(mkfifo(job.directory + "/data/gate", 0o600) == 0)
        // Item 5 waits on the FIFO until data/go exists (not a declared input: the key stays).
        let worker = "[ \"$SANDLOCK_SHARD\" != 5 ] || [ -e data/go ] || cat data/gate; wc -c < \"$SANDLOCK_ITEM\""
        try job.write("job.yaml", Self.manifest(worker: worker))
        let runner = try cli.start(["run", "--progress", "plain", "-j", "1", "job.yaml"], in: job.directory)
        let shardLog = { job.latest.readShardRecords("count").count }
        // Shard 5 blocks on the gate; five shard records mean the first five are done.
        #expect(try await eventually { shardLog() == 5 })
        kill(runner.processIdentifier, SIGKILL)
        runner.waitUntilExit()
        // Let the orphaned shard end: a writer's open and close gives its cat EOF.
        _ = try? FileDescriptor(opening: job.directory + "/data/gate", flags: O_WRONLY | O_NONBLOCK)
        try job.write("data/go", "")

        let run = job.latest
        let output = try cli.run(["resume", "--no-cache", "--progress", "plain", "--in", "job.yaml", "latest"], in: job.directory)
        #expect(output.status == 0, "\(output.stderr)")
        #expect(run.readStageRecord("count")?.shards?.cached == 5)
        let attempts = Dictionary(grouping: run.readShardRecords("count"), by: \.shard).mapValues { $0.reduce(0) { $0 + $1.attempts.count } }
        #expect(attempts.values.allSatisfy { $0 == 1 }, "\(attempts)")
        #expect(job.read("out/report.txt") == "\(job.expectedTotal)\n")
        #expect(try run.readRunRecord().earlierAttempts?.map(\.status) == [.interrupted])
    }

    @Test("an output behind a symlink is not stored, and a restore never writes outside the workdir")
    func outputBehindSymlink() throws {
        let job = try Job(items: 1)
        defer { job.remove() }
        let outside = try RunnerJob()
        defer { outside.remove() }
        // The stage makes its declared output a link to a directory outside the workdir.
        try job.write("job.yaml", Self.oneStage(writing: "out", """
              link:
                run: mkdir -p out && ln -s \(outside.directory) out/dir
                outputs: [out/dir/secret.txt]
            """))
        let output = try run(job)
        #expect(output.stderr.contains("not cached: output 'out/dir/secret.txt' lies behind a symlink"), "\(output.stderr)")
        #expect(job.latest.readStageRecord("link")?.cache?.notStored != nil)
        // Positive control: a plain output of the same stage shape is stored and reused.
        try FileManager.default.removeItem(atPath: job.directory + "/out/dir")
        try job.write("job.yaml", Self.oneStage(writing: "out", """
              write:
                run: mkdir -p out/dir && echo ok > out/dir/secret.txt
                outputs: [out/dir/secret.txt]
            """))
        try run(job)
        try FileManager.default.removeItem(atPath: job.directory + "/out/dir/secret.txt")
        try run(job)
        #expect(outcome(job.latest, "write") == .cached)
        #expect(job.read("out/dir/secret.txt") == "ok\n")
        #expect(!FileManager.default.fileExists(atPath: outside.directory + "/secret.txt"))
    }

    @Test("a cache directory a stage may write is refused, naming it")
    func cacheOutOfReach() throws {
        let job = try Job(items: 1)
        defer { job.remove() }
        let outside = try RunnerJob()
        defer { outside.remove() }
        try job.write("job.yaml", Self.oneStage(writing: outside.directory, """
              poison:
                run: echo hi
            """))
        let store = outside.directory + "/store"
        let refused = try cli.run(["run", "--progress", "plain", "--cache-dir", store, "job.yaml"], in: job.directory)
        #expect(refused.status == 1)
        let message = job.latest.readStageRecord("poison")?.message ?? ""
        #expect(message.contains("covers the run directory '\(store)'"), "\(message)")
        // Positive control: the same stage with the cache in its default place runs.
        let ok = try cli.run(["run", "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(ok.status == 0, "\(ok.stderr)")
    }
}

extension RunnerJob {
    init(at directory: String) { self.directory = directory }
}
