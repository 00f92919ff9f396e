import Foundation
import FoundationXML
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// `sandlock-jobs run|runs|show|logs` as a user runs them: exit codes, signals, the run
/// directory a killed runner leaves, the reports.
@Suite("Runner CLI", needsWorkspaces)
struct RunnerCLITests {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func binary() throws -> String {
        try #require(SandlockJobsCLITests.binary, "sandlock-jobs is not built next to the tests")
    }

    /// Starts the CLI in `directory` with stdout and stderr going to files there.
    func start(_ args: [String], in directory: String, environment: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try binary())
        p.arguments = args
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        p.currentDirectoryURL = URL(fileURLWithPath: directory)
        _ = FileManager.default.createFile(atPath: directory + "/cli.out", contents: nil)
        _ = FileManager.default.createFile(atPath: directory + "/cli.err", contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/cli.out"))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/cli.err"))
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }

    func run(_ args: [String], in directory: String, environment: [String: String] = [:]) throws -> Output {
        let p = try start(args, in: directory, environment: environment)
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: contents(directory + "/cli.out"), stderr: contents(directory + "/cli.err"))
    }

    /// Processes whose command line contains `marker` that have not exited (zombies excluded).
    func alive(_ marker: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let status = contents("/proc/\(pid)/status")
            return String(decoding: data, as: UTF8.self).contains(marker) && !status.contains("State:\tZ")
        }
    }

    @Test("SIGINT mid-run: exit 130, every sandbox gone, finished stages kept, the rest cancelled")
    func interrupt() async throws {
        let job = try RunnerJob(), sync = try StageHandshake()
        defer { job.remove() }
        let held = "policy: { extends: sys, filesystem: { write: [\(sync.grant)] } }"
        _ = try job.plan("""
            stages:
              quick: { run: echo done }
              long: { run: "\(sync.prefix)sleep 31.25", needs: [quick], \(held) }
              fan: { map: { over: { shards: 20 } }, run: "\(sync.prefix)sleep 31.25", needs: [quick], \(held) }
              after: { run: "true", needs: [long] }
            """)
        let p = try start(["run", "--progress", "plain", "--jobs", "3", "job.yaml"], in: job.directory)
        #expect(sync.waitForStarts(3), "\(contents(job.directory + "/cli.err"))")
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        #expect(sync.waitUntilAllGone())
        let root = RunDirectory.runsRoot(workdir: job.directory)
        let directory = try #require(RunDirectory.find("latest", root: root))
        let run = try directory.readRunRecord()
        #expect(run.status == .interrupted)
        #expect(directory.readStageRecord("quick")?.status == .succeeded)
        for stage in ["long", "fan", "after"] { #expect(directory.readStageRecord(stage)?.status == .cancelled, "\(stage)") }
        #expect(contents(job.directory + "/cli.err").contains("interrupted"))
    }

    @Test("SIGKILL of the runner mid-run: the run directory stays readable, finished stages exact, sandboxes gone")
    func killedRunner() async throws {
        let job = try RunnerJob(), sync = try StageHandshake()
        defer { job.remove() }
        _ = try job.plan("""
            stages:
              first: { run: echo first }
              second:
                policy: { extends: sys, filesystem: { write: [\(sync.grant)] } }
                run: "\(sync.prefix)sleep 32.5"
                needs: [first]
            """)
        let p = try start(["run", "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(sync.waitForStarts(1), "\(contents(job.directory + "/cli.err"))")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(sync.waitUntilAllGone())
        let directory = try #require(RunDirectory.find("latest", root: RunDirectory.runsRoot(workdir: job.directory)))
        // The runner could not record its end; its lock tells readers it is gone.
        let record = try directory.readRunRecord()
        #expect(record.status == .interrupted)
        #expect(record.stages.first { $0.name == "first" }?.status == .succeeded)
        let first = try #require(directory.readStageRecord("first"))
        #expect(first.status == .succeeded && first.exitCode == 0)
        #expect(directory.readStageRecord("second") == nil)
        let leftovers = (try FileManager.default.subpathsOfDirectory(atPath: directory.path)).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
        // show still works on the half-finished run.
        let show = try run(["show", "latest"], in: job.directory)
        #expect(show.status == 130 && show.stdout.contains("did not end") && show.stdout.contains("interrupted"), "\(show.stdout)")
        #expect(try run(["runs"], in: job.directory).stdout.contains("interrupted"))
    }

    @Test("exit codes, summary with the failure's stderr tail, --json, and JUnit XML that parses")
    func reports() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("""
            stages:
              ok: { run: echo fine }
              fan:
                map: { over: { shards: 3 } }
                run: echo "shard $SANDLOCK_SHARD"; if [ $SANDLOCK_SHARD = 1 ]; then echo "bad <shard> & co" >&2; exit 4; fi
            """)
        let r = try run(["run", "--progress", "plain", "--keep-going", "--junit", "report.xml", "--json", "job.yaml"], in: job.directory)
        #expect(r.status == 1)
        #expect(r.stderr.contains("✗ stage 'fan' failed: 1 of 3 shards failed"))
        #expect(r.stderr.contains("shard 1: exit 4"))
        #expect(r.stderr.contains("| bad <shard> & co"))
        #expect(r.stderr.contains("/stages/fan/shards/1/stderr.log"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let runJSON = try #require(json["run"] as? [String: Any])
        #expect(runJSON["status"] as? String == "failed")
        #expect((json["results"] as? [[String: Any]])?.count == 2)

        let xml = try Data(contentsOf: URL(fileURLWithPath: job.directory + "/report.xml"))
        let parser = XMLParser(data: xml)
        let collector = JUnitCollector()
        parser.delegate = collector
        #expect(parser.parse(), "JUnit XML does not parse: \(String(describing: parser.parserError))")
        #expect(collector.testcases == ["ok", "fan", "fan/0", "fan/1", "fan/2"])
        #expect(collector.failures.count == 2)
        #expect(collector.failureText.contains("bad <shard> & co"))
        #expect(collector.rootAttributes["tests"] == "5" && collector.rootAttributes["failures"] == "2")

        let ok = try run(["run", "--progress", "json", "--only", "ok", "job.yaml"], in: job.directory)
        #expect(ok.status == 0)
        let events = ok.stderr.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(events.first?["event"] as? String == "run_started")
        #expect(events.last?["event"] as? String == "run_ended" && events.last?["status"] as? String == "succeeded")

        #expect(try run(["run", "--only", "nope", "job.yaml"], in: job.directory).status == 64)
    }

    @Test("the example manifests run as they are", arguments: ["hello", "pipeline", "wordcount"])
    func examples(name: String) async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let r = try run(["run", "--progress", "plain", "--run-dir", job.directory + "/run", Paths.root + "/jobs/\(name).yaml"],
                        in: job.directory)
        #expect(r.status == 0, "\(r.stderr)")
        let directory = RunDirectory(path: job.directory + "/run")
        switch name {
        case "hello": #expect(contents(directory.stageDirectory("hello") + "/stdout.log") == "hello from hello\n")
        case "pipeline": #expect(contents(directory.stageDirectory("top-words") + "/stdout.log").split(separator: "\n").count == 5)
        default:
            #expect(contents(directory.stageDirectory("count") + "/stdout.log") == "39\n")
            #expect(contents(directory.stageDirectory("report") + "/stdout.log") == "gamma.txt\nbeta.txt\nalpha.txt\n")
        }
    }

    @Test("runs lists history newest first; show repeats the summary; logs prints a stage's or a shard's output")
    func inspection() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("""
            stages:
              fan: { map: { over: { items: [x, y] } }, run: echo "item $SANDLOCK_ITEM"; echo "err $SANDLOCK_ITEM" >&2, reduce: { run: cat } }
              bare: { map: { over: { items: [x, y, z] } }, run: echo "$SANDLOCK_ITEM" }
              p:
                pipeline:
                  - run: echo piped; echo one >&2
                  - run: cat; echo two >&2
            """)
        let first = try run(["run", "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(first.status == 0)
        let second = try run(["run", "--progress", "plain", "--only", "p", "job.yaml"], in: job.directory)
        #expect(second.status == 0)
        let ids = RunDirectory.list(root: RunDirectory.runsRoot(workdir: job.directory)).map(\.id)
        #expect(ids.count == 2)

        let runs = try run(["runs"], in: job.directory)
        let lines = runs.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("RUN") == true)
        #expect(lines.dropFirst().map { String($0.prefix(while: { $0 != " " })) } == ids)
        #expect(runs.stdout.contains("3 succeeded") && runs.stdout.contains("1 succeeded, 2 skipped"))

        let show = try run(["show", ids[1], "--in", "job.yaml"], in: job.directory)
        #expect(show.status == 0)
        #expect(show.stdout.contains("run \(ids[1]) 'test': succeeded"))
        #expect(show.stdout.contains("fan    succeeded") && show.stdout.contains("2/2"))

        #expect(try run(["logs", ids[1], "fan"], in: job.directory).stdout == "item x\nitem y\n")
        #expect(try run(["logs", ids[1], "fan/1", "--stderr"], in: job.directory).stdout == "err y\n")
        #expect(try run(["logs", ids[1], "bare"], in: job.directory).stdout == "x\ny\nz\n")
        #expect(try run(["logs", "latest", "p"], in: job.directory).stdout == "piped\n")
        #expect(try run(["logs", "latest", "p", "--stderr"], in: job.directory).stdout
            == "== member 0: echo piped; echo one >&2\none\n== member 1: cat; echo two >&2\ntwo\n")
        #expect(try run(["logs", "latest", "nope"], in: job.directory).status == 64)
        #expect(try run(["show", "no-such-run"], in: job.directory).status == 66)
    }
}

/// Collects test case names, failures and the root's attributes of a JUnit file.
final class JUnitCollector: NSObject, XMLParserDelegate, @unchecked Sendable {
    var testcases: [String] = []
    var failures: [String] = []
    var failureText = ""
    var rootAttributes: [String: String] = [:]
    private var inFailure = false

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        switch name {
        case "testsuites": rootAttributes = attributes
        case "testcase": testcases.append(attributes["name"] ?? "")
        case "failure":
            failures.append(attributes["message"] ?? "")
            inFailure = true
        default: break
        }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "failure" { inFailure = false }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if inFailure { failureText += string }
    }
}
