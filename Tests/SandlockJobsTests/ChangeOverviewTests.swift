import Foundation
import SandlockCore
import Testing
@testable import SandlockJobs

/// Issue 19: a dry run's summary counts each stage's changes per directory by default;
/// `--verbose` lists every path.
@Suite struct ChangeOverviewTests {
    @Test("counts per directory, two levels deep, busiest first; renames count at their new path; the rest summed up")
    func overview() {
        var lines = ["A src/pkg/a.py", "A src/pkg/b.py", "M src/pkg/sub/c.py", "D README", "R old/x.txt -> docs/x.txt", "A build/lib/pkg/deep/d.so"]
        lines += (0..<12).map { "A gen\($0)/f.txt" }
        let text = ChangeOverview(lines: lines.map { $0[...] }).text(indent: "  ")
        let shown = text.split(separator: "\n")
        #expect(shown.first == "  src/pkg/  A 2, M 1")
        #expect(shown.contains("  build/lib/  A 1") && shown.contains("  docs/  R 1") && shown.contains("  .  D 1"), "\(text)")
        #expect(shown.count == ChangeOverview.directoriesShown + 1)
        #expect(shown.last == "  … 6 more directories (6 paths)", "\(text)")
    }
}

extension RunnerCLITests {
    @Test("run --dry-run: the summary shows counts per directory, --verbose every path")
    func dryRunOverview() throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("""
            stages:
              gen:
                policy: { extends: sys, filesystem: { write: [out] } }
                run: mkdir -p out/a out/b && for i in 1 2 3; do echo $i > out/a/$i.txt; done && echo x > out/b/x.txt
            """)
        let brief = try run(["run", "--dry-run", "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(brief.status == 0, "\(brief.stderr)")
        // The directories out, out/a and out/b are changes of their parents too.
        #expect(brief.stderr.contains("  gen: 7 added, would commit\n    out/a/  A 3\n    out/  A 2\n    .  A 1\n    out/b/  A 1\n    every path: "), "\(brief.stderr)")
        #expect(!brief.stderr.contains("A out/a/1.txt"))
        let verbose = try run(["run", "--dry-run", "--verbose", "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(verbose.stderr.contains("    A out/a/1.txt\n"), "\(verbose.stderr)")
    }
}
