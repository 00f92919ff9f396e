import Foundation
import SandlockCore
import Testing
@testable import SandlockJobs

/// Issue 19: the live display shows a fan-out's shard rate and ETA.
@Suite struct ProgressPaceTests {
    @Test("rate and time left from the shards done so far; nothing before the first or after the last")
    func pace() {
        #expect(ProgressPrinter.pace(done: 10, total: 40, elapsed: 4) == "2.5/s, ETA 12.0s")
        #expect(ProgressPrinter.pace(done: 300, total: 1000, elapsed: 10) == "30/s, ETA 23.3s")
        #expect(ProgressPrinter.pace(done: 0, total: 40, elapsed: 4) == nil)
        #expect(ProgressPrinter.pace(done: 40, total: 40, elapsed: 4) == nil)
    }
}

extension RunnerCLITests {
    @Test("on a terminal (script(1)), a running fan-out shows its shard rate and ETA")
    func ttyShowsRateAndETA() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let gate = job.directory + "/gate/fifo"
        try FileManager.default.createDirectory(atPath: job.directory + "/gate", withIntermediateDirectories: true)
        #expect(mkfifo(gate, 0o600) == 0)
        _ = try job.plan("""
            stages:
              fan:
                map: { over: { shards: 4 }, max_parallel: 4 }
                policy: { extends: sys, filesystem: { read: [gate] } }
                run: if [ "$SANDLOCK_SHARD" = 3 ]; then read line < \(gate); fi; echo "$SANDLOCK_SHARD"
            """)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qfec", "\(try binary()) run --progress tty job.yaml", "/dev/null"]
        p.currentDirectoryURL = URL(fileURLWithPath: job.directory)
        p.environment = ProcessInfo.processInfo.environment.merging(["NO_COLOR": "1"]) { _, new in new }
        _ = FileManager.default.createFile(atPath: job.directory + "/tty.out", contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: job.directory + "/tty.out"))
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // Three shards end; the fourth waits on the FIFO until the display showed the pace.
        #expect(try await eventually { contents(job.directory + "/tty.out").contains("3/4 shards") && contents(job.directory + "/tty.out").contains("ETA") })
        let writer = FileHandle(forWritingAtPath: gate)
        writer?.write(Data("go\n".utf8))
        try writer?.close()
        p.waitUntilExit()
        let out = contents(job.directory + "/tty.out")
        #expect(p.terminationStatus == 0, "\(out)")
        #expect(out.range(of: #"3/4 shards  [0-9.]+/s, ETA [0-9.]+s"#, options: .regularExpression) != nil, "\(out)")
    }

    @Test("--progress plain keeps one line per 10% of the shards, without rate or ETA")
    func plainKeepsItsTenPercentLines() throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("""
            stages:
              fan: { map: { over: { shards: 20 } }, run: "true" }
            """)
        let r = try run(["run", "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n").filter { $0.contains("shards fan: ") }.map { $0.split(separator: "]", maxSplits: 1)[1] }
        #expect(lines == (1...10).map { " shards fan: \($0 * 2)/20 done"[...] }, "\(r.stderr)")
        #expect(!r.stderr.contains("ETA"))
    }
}
