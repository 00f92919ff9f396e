import Foundation
import Testing
@testable import SandlockJobs

/// Runs the built `sandlock-jobs` (it sits next to the test bundle) on real files and
/// checks exit codes and the split between stdout (results) and stderr (diagnostics).
@Suite struct SandlockJobsCLITests {
    static let binary: String? = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("sandlock-jobs").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }()

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func run(_ args: [String]) throws -> Output {
        let binary = try #require(Self.binary, "sandlock-jobs is not built next to the tests")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: Paths.root)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    @Test func validateExamples() throws {
        let r = try run(["validate", "jobs/hello.yaml", "jobs/pipeline.yaml", "jobs/wordcount.yaml"])
        #expect(r.status == 0)
        #expect(r.stderr == "")
        #expect(r.stdout == "jobs/hello.yaml: valid (1 stage)\njobs/pipeline.yaml: valid (1 stage)\njobs/wordcount.yaml: valid (3 stages)\n")
    }

    @Test func invalidManifestExits65WithDiagnosticsOnStderr() throws {
        let r = try run(["validate", "Tests/SandlockJobsTests/Fixtures/invalid/cycle.yaml", "jobs/hello.yaml"])
        #expect(r.status == 65)
        #expect(r.stderr.contains("cycle.yaml:4:29: error: stage 'b': dependency cycle: b → a → c → b\n"))
        #expect(r.stdout == "jobs/hello.yaml: valid (1 stage)\n")
    }

    @Test func missingFileExits66NamingIt() throws {
        let r = try run(["plan", "jobs/no-such.yaml"])
        #expect(r.status == 66)
        #expect(r.stderr == "sandlock-jobs: error: cannot read manifest 'jobs/no-such.yaml': No such file or directory\n")
        #expect(r.stdout == "")
    }

    @Test func usageErrorExits64() throws {
        #expect(try run(["graph", "jobs/hello.yaml", "--format", "png"]).status == 64)
        #expect(try run(["validate"]).status == 64)
    }

    @Test func runChecksTheManifestFirst() throws {
        let broken = try run(["run", "Tests/SandlockJobsTests/Fixtures/invalid/cycle.yaml"])
        #expect(broken.status == 65)
        #expect(broken.stdout == "")
        let missing = try run(["run", "jobs/no-such.yaml"])
        #expect(missing.status == 66)
    }

    @Test func planJSONIsOnStdoutAndParses() throws {
        let r = try run(["plan", "--json", "jobs/wordcount.yaml"])
        #expect(r.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["order"] as? [String] == ["prepare", "count", "report"])
        let stages = try #require(json["stages"] as? [[String: Any]])
        let map = try #require(stages[1]["map"] as? [String: Any])
        let over = try #require(map["over"] as? [String: Any])
        #expect(over["count"] as? Int == 3)
    }

    @Test func validateJSONListsDiagnostics() throws {
        let r = try run(["validate", "--json", "Tests/SandlockJobsTests/Fixtures/invalid/unknown-stage-key.yaml"])
        #expect(r.status == 65)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        let diagnostics = try #require(json.first?["diagnostics"] as? [[String: Any]])
        let error = try #require(diagnostics.first { $0["severity"] as? String == "error" })
        #expect(error["line"] as? Int == 6 && error["column"] as? Int == 5)
    }

    @Test func graphAndSchema() throws {
        let mermaid = try run(["graph", "jobs/wordcount.yaml"])
        #expect(mermaid.stdout.hasPrefix("flowchart TD\n"))
        let dot = try run(["graph", "--format", "dot", "jobs/wordcount.yaml"])
        #expect(dot.stdout.hasPrefix("digraph \"wordcount\" {"))
        let schema = try run(["schema"])
        #expect(schema.stdout == (try String(contentsOfFile: Paths.root + "/schemas/sandlock-jobs.schema.json", encoding: .utf8)))
    }

    @Test func helpShowsExamples() throws {
        for command in ["validate", "plan", "graph", "schema", "run", "runs", "show", "logs"] {
            let r = try run([command, "--help"])
            #expect(r.status == 0)
            #expect(r.stdout.contains("Examples:"), "\(command) --help")
        }
    }
}
