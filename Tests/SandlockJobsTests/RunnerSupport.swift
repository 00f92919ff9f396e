import Foundation
import SandlockCore
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// Real-process runner tests need what a default sandbox uses, and the supervisor (the runner
/// records denied connections and limits); copy-on-write stages need workspaces too.
let needsKernel = Fixture.needs(Requirement.sandbox + [.seccompUserNotification])
let needsWorkspaces = Fixture.needs(Requirement.workspaces + [.seccompUserNotification])

/// A job in a fresh temp folder (its workdir), run through `Runner` in-process.
struct RunnerJob {
    let directory: String

    /// The system trees a shell and its tools need.
    static let systemPolicy = """
        policies:
          sys: { filesystem: { read: [/usr, /lib, /lib64, /bin, /etc] } }
        defaults: { policy: sys }

        """

    init() throws {
        var template = Array("/tmp/sandlock-jobs-test-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        directory = path
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    func write(_ name: String, _ text: String) throws {
        let path = directory + "/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func read(_ name: String) -> String? { try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) }

    /// Writes `job.yaml` (version line and the `sys` policy added) and plans it.
    func plan(_ body: String, withSystemPolicy: Bool = true) throws -> Plan {
        try write("job.yaml", "version: 1\nname: test\n" + (withSystemPolicy ? Self.systemPolicy : "") + body)
        let result = try ManifestLoader(planner: Planner(currentDirectory: directory)).load(path: directory + "/job.yaml")
        #expect(!result.hasErrors, "\(result.rendered)")
        return try #require(result.plan)
    }

    /// Runs the manifest; returns the run record, the stage records by name and the directory.
    func run(_ body: String, options: RunOptions = RunOptions(jobs: 2)) async throws -> (RunRecord, [String: StageRecord], RunDirectory) {
        let plan = try plan(body)
        let runDirectory = try RunDirectory.create(workdir: plan.workdir, explicit: nil)
        let record = await Runner(plan: plan, options: options, directory: runDirectory).run()
        var stages: [String: StageRecord] = [:]
        for s in plan.stages { stages[s.name] = runDirectory.readStageRecord(s.name) }
        return (record, stages, runDirectory)
    }
}

func contents(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

/// Polls `condition` every 50 ms, for at most `seconds`: for state a test can only see in
/// files another process writes (a terminal display, shard records). Where the test writes
/// the stage's command, a FIFO handshake (`StageHandshake`) is the better wait.
func eventually(within seconds: Int = 300, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while !condition() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
    return condition()
}
