import Foundation
import SandlockCore
import Testing
@testable import SandlockJobs

/// Issue 19: `sandlock-jobs graph RUN` colours each stage by how it ended.
extension RunnerCLITests {
    @Test("graph RUN: Mermaid classes and dot fills by status; graph of a manifest as before")
    func graphOfARun() throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("""
            stages:
              ok: { run: "true" }
              bad: { run: exit 1 }
              after: { needs: [bad], run: "true" }
            """)
        let run = try run(["run", "--keep-going", "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(run.status == 1, "\(run.stderr)")
        let mermaid = try self.run(["graph", "latest"], in: job.directory)
        #expect(mermaid.status == 0, "\(mermaid.stderr)")
        #expect(mermaid.stdout.hasPrefix("flowchart TD\n"))
        #expect(mermaid.stdout.contains("    classDef failed fill:#ffcdd2,stroke:#c62828,color:#000\n    class s1 failed\n"), "\(mermaid.stdout)")
        #expect(mermaid.stdout.contains("    class s0 succeeded\n") && mermaid.stdout.contains("    class s2 skipped\n"), "\(mermaid.stdout)")
        let dot = try self.run(["graph", "--format", "dot", "latest"], in: job.directory)
        #expect(dot.stdout.contains(##""bad" [style=filled, fillcolor="#ffcdd2", color="#c62828", xlabel="failed"];"##), "\(dot.stdout)")
        #expect(dot.stdout.hasSuffix("}\n"))
        // Positive control: the manifest's graph has no status.
        let plain = try self.run(["graph", "job.yaml"], in: job.directory)
        #expect(plain.status == 0 && !plain.stdout.contains("classDef"), "\(plain.stdout)")
        let missing = try self.run(["graph", "nothing.yaml"], in: job.directory)
        #expect(missing.status == 66)
    }
}
