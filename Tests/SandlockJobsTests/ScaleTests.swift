import Foundation
import Testing
@testable import SandlockJobs

/// Bad input at scale: the limits, the capped lists, and plans of many stages that must come
/// out right. How fast they come out is Scripts/bench/manifest-scale.sh's business.
@Suite struct ScaleTests {
    @Test func aManifestOverTheSizeLimitIsRefusedUnread() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scale-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/huge.yaml"
        // Sparse: the size is over the limit, the disk holds nothing.
        #expect(FileManager.default.createFile(atPath: path, contents: Data("version: 1\n".utf8)))
        #expect(truncate(path, off_t(ManifestLoader.maxBytes + 3 << 20)) == 0)
        let result = try ManifestLoader().load(path: path)
        #expect(result.manifest == nil)
        #expect(result.diagnostics.map(\.message) == [
            "the manifest is 67 MiB (70,254,592 bytes), over the limit of 64 MiB (67,108,864 bytes); split the job into smaller manifests",
        ])
        #expect(result.rendered == "\(path): error: \(result.diagnostics[0].message)\n")

        // One byte over is over too; at the limit it is read (and then it is not YAML).
        #expect(truncate(path, off_t(ManifestLoader.maxBytes + 1)) == 0)
        #expect(try ManifestLoader().load(path: path).diagnostics.first?.message.hasPrefix("the manifest is 64.0 MiB (67,108,865 bytes), over the limit") == true)
    }

    @Test func moreStagesThanTheLimitIsOneError() {
        var text = "version: 1\n" + basePolicy + "stages:\n"
        for i in 0...ManifestLoader.maxStages { text += "  s\(i): { run: x }\n" }
        let result = load(text)
        #expect(result.errors.map(\.message) == ["the manifest has 100,001 stages, over the limit of 100,000; split the job into smaller manifests"])
        #expect(result.errors.first?.mark?.line == 5)  // the `stages` key
        #expect(result.plan == nil)
    }

    /// A chain, a fan-in of every stage, and stages without a policy, of `n` stages.
    func manifest(_ n: Int) -> String {
        var text = "version: 1\npolicies:\n  base: { filesystem: { read: [/usr] } }\n  p: { extends: base }\nstages:\n"
        for i in 0..<n {
            let needs = i == 0 ? "" : ", needs: [s\(i - 1)]"
            text += "  s\(i): { run: echo \(i)\(i % 100 == 1 ? "" : ", policy: p")\(needs) }\n"
        }
        text += "  join:\n    run: \"true\"\n    policy: p\n    needs: [" + (0..<n).map { "s\($0)" }.joined(separator: ", ") + "]\n"
        return text
    }

    @Test func planningNAnd4NStagesGivesPlansOfTheirSize() throws {
        // Recursion over `needs` would need a stack frame per stage of the chain.
        for n in [5_000, 20_000] {
            let result = load(manifest(n))
            #expect(result.errors.isEmpty)
            let plan = try #require(result.plan)
            #expect(plan.stages.count == n + 1)
            #expect(plan.levels.count == n + 1)
            #expect(plan.stage("join")?.level == n)
            #expect(plan.stage("s\(n - 1)")?.needs == ["s\(n - 2)"])
            // `plan`: a heading, 2 lines for manifest and workdir, then per level a blank line and
            // a heading, and per stage its line, its command and its policy.
            let text = plan.text
            #expect(text.split(separator: "\n", omittingEmptySubsequences: false).count == 3 + 2 * (n + 1) + 3 * (n + 1) + 1)
            #expect(text.hasSuffix("  join [command] needs " + (0..<n).map { "s\($0)" }.joined(separator: ", ") + "\n    run      true\n    policy   p: read /usr; no outbound network\n"))
            #expect(plan.mermaid.split(separator: "\n").count == 1 + (n + 1) + (n - 1) + n)
            #expect(plan.dot.split(separator: "\n").count == 3 + (n + 1) + (n - 1) + n + 1)
            // The stages without a policy are named, ten of them.
            let unconfined = (0..<n).filter { $0 % 100 == 1 }.map { "'s\($0)'" }
            #expect(result.warnings.map(\.message) == [
                "no policy for stages \(unconfined.prefix(10).joined(separator: ", ")) and \(grouped(unconfined.count - 10)) more: set 'policy:' or 'defaults.policy' (an empty policy grants nothing)",
            ])
        }
    }

    @Test func aPlanFindsItsStagesAfterTheyChanged() throws {
        var plan = try #require(load(manifest(3)).plan)
        #expect(plan.stage("s2")?.name == "s2")
        plan.stages.reverse()
        #expect(plan.stage("s2")?.name == "s2")
        #expect(plan.stage("nope") == nil)
        let copy = try #require(load(manifest(3)).plan)
        var same = copy
        same.stages = copy.stages
        #expect(same == copy)
    }

    @Test func manyCyclesAreReportedUpToALimit() {
        var text = "version: 1\n" + basePolicy + "stages:\n"
        for i in 0..<50 { text += "  a\(i): { run: x, needs: [b\(i)] }\n  b\(i): { run: x, needs: [a\(i), a\(i)] }\n" }
        let errors = load(text).errors.map(\.message)
        #expect(errors.count == 21)
        #expect(errors.contains("stage 'b0': dependency cycle: b0 → a0 → b0"))
        #expect(errors.first == "30 more dependency cycles (the first 20 are reported)")
    }

    @Test func aLongCycleShowsItsEnds() {
        var text = "version: 1\n" + basePolicy + "stages:\n"
        for i in 0..<1000 { text += "  s\(i): { run: x, needs: [s\((i + 1) % 1000)] }\n" }
        #expect(load(text).errors.map(\.message) == ["stage 's999': dependency cycle: s999 → s0 → s1 → s2 → s3 → … 991 more … → s995 → s996 → s997 → s998 → s999"])
    }

    @Test func extendsChainsAreBounded() {
        // p0 extends p1 extends … p999: resolving recurses along the chain.
        var text = "version: 1\npolicies:\n"
        for i in 0..<999 { text += "  p\(i): { extends: p\(i + 1) }\n" }
        text += "  p999: { filesystem: { read: [/usr] } }\ndefaults: { policy: p0 }\nstages:\n  a: { run: x }\n"
        let errors = load(text).errors.map(\.message)
        #expect(errors.first == "policy 'p63': extends chain longer than 64 policies: p0 → p1 → p2 → p3 → p4 → … 55 more … → p60 → p61 → p62 → p63 → p64")
        #expect(!errors.isEmpty && errors.allSatisfy { $0.contains("extends chain longer than 64 policies") })
        // 64 are fine.
        var ok = "version: 1\npolicies:\n"
        for i in 0..<63 { ok += "  p\(i): { extends: p\(i + 1) }\n" }
        ok += "  p63: { filesystem: { read: [/usr] } }\ndefaults: { policy: p0 }\nstages:\n  a: { run: x }\n"
        #expect(load(ok).errors.isEmpty)
    }

    @Test func manyUnknownNamesGetABoundedNumberOfSuggestions() {
        var text = "version: 1\n" + basePolicy + "stages:\n"
        for i in 0..<100 { text += "  stage\(i): { run: x, needs: [stage\(i)x] }\n" }
        let errors = load(text).errors.map(\.message)
        #expect(errors.count == 100)
        #expect(errors.filter { $0.contains("did you mean") }.count == 20)
    }

    @Test func aLongLineIsShownAroundTheCaret() {
        let items = (0..<300).map { "item\($0)" }
        let line = "items: [" + items.joined(separator: ", ") + ", {bad: 1}]"
        let source = SourceFile(path: "t.yaml", text: "a: 1\n" + line + "\nb: 2\n")
        let column = line.count - "{bad: 1}]".count + 1
        let rendered = source.render(Diagnostic(.error, "here", at: SourceMark(line: 2, column: column), length: 8)).split(separator: "\n")
        #expect(rendered.count == 3)
        #expect(rendered[1].count <= SourceFile.longLine + 2)
        #expect(rendered[1].hasPrefix("…") && rendered[1].hasSuffix("{bad: 1}]"))
        let caret = rendered[2].firstIndex(of: "^").map { rendered[2].distance(from: rendered[2].startIndex, to: $0) }
        let bad = rendered[1].firstIndex(of: "{").map { rendered[1].distance(from: rendered[1].startIndex, to: $0) }
        #expect(caret != nil && caret == bad)
        #expect(rendered[2].hasSuffix("^~~~~~~~"))
        // Far out, the line is left out.
        let far = SourceFile(path: "t.yaml", text: String(repeating: "x", count: 10_000))
        #expect(far.render(Diagnostic(.error, "far", at: SourceMark(line: 1, column: 9_000))) == "t.yaml:1:9000: error: far\n")
        // Lines end at \n, \r\n and \r.
        let breaks = SourceFile(path: "t", text: "a\r\nb\rc\n\nd")
        #expect((1...5).map { breaks.line($0).map(String.init) } == ["a", "b", "c", "", "d"])
        #expect(breaks.line(6) == nil)
    }

    @Test func quotedListsAreCapped() {
        #expect(quotedList(["a", "b"]) == "'a', 'b'")
        #expect(quotedList((0..<8000).map { "s\($0)" }) == (0..<10).map { "'s\($0)'" }.joined(separator: ", ") + " and 7,990 more")
        #expect(grouped(1_234_567) == "1,234,567")
        #expect(grouped(999) == "999")
    }
}
