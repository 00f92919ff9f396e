import Foundation
import SandlockCore
import Testing
@testable import SandlockJobs

@Suite struct PlannerTests {
    func plan(_ body: String, path: String = "valid/test.yaml", withBase: Bool = true) throws -> Plan {
        let result = load("version: 1\n" + (withBase ? basePolicy : "") + body, path: path)
        #expect(result.errors.isEmpty, "\(result.rendered)")
        return try #require(result.plan)
    }

    @Test func topologicalOrderAndLevels() throws {
        let p = try plan("""
            stages:
              report: { run: "true", needs: [count, lint] }
              count: { run: "true", needs: [prepare] }
              prepare: { run: "true" }
              lint: { run: "true" }
              fetch: { run: "true" }
            """)
        #expect(p.order == ["prepare", "lint", "fetch", "count", "report"])
        #expect(p.levels == [["prepare", "lint", "fetch"], ["count"], ["report"]])
        for (i, s) in p.stages.enumerated() {
            for need in s.needs { #expect(p.order.firstIndex(of: need)! < i) }
        }
    }

    @Test func everyCycleIsReportedOnceWithItsPath() {
        let result = load("version: 1\n" + basePolicy + """
            stages:
              a: { run: "true", needs: [b] }
              b: { run: "true", needs: [a] }
              c: { run: "true", needs: [d] }
              d: { run: "true", needs: [e] }
              e: { run: "true", needs: [c] }
              f: { run: "true", needs: [a] }
            """)
        #expect(result.errors.map(\.message) == [
            "stage 'b': dependency cycle: b → a → b",
            "stage 'e': dependency cycle: e → c → d → e",
        ])
        #expect(result.plan == nil)
    }

    @Test func extendsMergesListsByUnionAndScalarsByOverrideAlongAChain() throws {
        let p = try plan("""
            policies:
              root:
                filesystem: { read: [/usr, /lib] }
                limits: { memory: 256M, processes: 32 }
                environment: { clean: true, env: { A: root, B: root } }
              middle:
                extends: root
                filesystem: { read: [/lib, /etc], write: [out] }
                limits: { memory: 512M }
              leaf:
                extends: middle
                limits: { processes: 4 }
                environment: { env: { B: leaf } }
            stages:
              s: { run: "true", policy: leaf }
            """, withBase: false)
        let policy = p.stages[0].processes[0].policy
        #expect(policy.fsReadable == ["/usr", "/lib", "/etc"])
        #expect(policy.fsWritable == ["\(Paths.fixtures)/valid/out"])
        #expect(policy.maxMemory == 512 << 20)
        #expect(policy.maxProcesses == 4)
        #expect(policy.cleanEnv)
        #expect(policy.env == ["A": "root", "B": "leaf"])
    }

    /// A policy that extends another and adds nothing must equal it in every field, so no
    /// field can be forgotten by the merge.
    @Test func extendingWithNothingKeepsEveryField() throws {
        let text = try String(contentsOfFile: Paths.fixtures + "/valid/everything.yaml", encoding: .utf8)
            .replacingOccurrences(of: "policies:\n", with: "policies:\n  same: { extends: base }\n")
            .replacingOccurrences(of: "stages:\n", with: "stages:\n  same-policy: { run: \"true\", policy: same }\n  base-policy: { run: \"true\", policy: base }\n")
        let result = load(text, path: "valid/everything.yaml")
        let plan = try #require(result.plan, "\(result.rendered)")
        var a = try #require(plan.stage("same-policy")?.processes.first?.policy)
        var b = try #require(plan.stage("base-policy")?.processes.first?.policy)
        #expect(a.maxMemory != nil && a.timeStart != nil && !a.extraDenySyscalls.isEmpty && a.noCoredump)
        a.name = nil
        b.name = nil
        #expect(a == b)
    }

    @Test func severalParentsApplyInOrder() throws {
        let p = try plan("""
            policies:
              a: { filesystem: { read: [/a] }, limits: { memory: 1G, processes: 4 } }
              b: { filesystem: { read: [/b, /a] }, limits: { memory: 2G } }
              c: { extends: [a, b], limits: { cpu: 50 } }
            stages:
              s: { run: "true", policy: c }
            """, withBase: false)
        let policy = try #require(p.stages.first?.processes.first?.policy)
        #expect(policy.fsReadable == ["/a", "/b"])
        #expect(policy.maxMemory == 2 << 30)
        #expect(policy.maxProcesses == 4)
        #expect(policy.maxCPU == 50)
    }

    /// The runner may keep the plan in the run directory: it must survive a JSON round trip.
    @Test func planIsCodable() throws {
        let result = try ManifestLoader().load(path: Paths.fixtures + "/valid/everything.yaml")
        let plan = try #require(result.plan)
        let data = try JSONEncoder().encode(plan)
        #expect(try JSONDecoder().decode(Plan.self, from: data) == plan)
    }

    @Test func extendsCycleIsAnError() {
        let result = load("""
            version: 1
            policies:
              a: { extends: [b] }
              b: { extends: a }
            stages:
              s: { run: "true", policy: a }
            """)
        #expect(result.errors.map(\.message) == ["policy 'b': extends cycle: b → a → b"])
    }

    @Test func environmentLayersAndProcessFields() throws {
        let p = try plan("""
            env: { A: manifest, B: manifest, C: manifest }
            policies:
              p: { filesystem: { read: [/usr] }, environment: { env: { B: policy, C: policy } } }
            stages:
              s:
                run: [echo, hi]
                policy: p
                env: { C: stage }
                timeout: 5m
                cwd: sub
            """, withBase: false)
        let proc = p.stages[0].processes[0]
        #expect(proc.argv == ["echo", "hi"])
        #expect(proc.policy.env == ["A": "manifest", "B": "policy", "C": "stage"])
        #expect(proc.policy.timeout == .seconds(300))
        #expect(proc.policy.cwd == "\(Paths.fixtures)/valid/sub")
        #expect(proc.policy.name == nil) // names are the runner's (a named sandbox is registered)
        #expect(p.stages[0].timeout == .seconds(300))
    }

    @Test func shellCommandsRunUnderTheDefaultShell() throws {
        let p = try plan("stages:\n  s: { run: echo hi | wc -c }\n")
        #expect(p.stages[0].processes[0].argv == Shell.standard.argv("echo hi | wc -c"))
    }

    @Test func fanOutSources() throws {
        let p = try plan("""
            stages:
              items: { map: { over: { items: [a, b, c] } }, run: "true" }
              shards: { map: { over: { shards: 4 }, max_parallel: 2 }, run: "true", allow_failures: 25% }
              glob: { map: { over: { glob: "data/*.txt" } }, run: "true", reduce: { run: cat } }
              later: { map: { over: { glob: "nothing-yet/*.txt" } }, run: "true" }
              lines: { map: { over: { lines: out/missing.txt } }, run: "true" }
            """)
        func map(_ name: String) throws -> PlannedMap {
            guard case .map(let m)? = p.stage(name)?.work else { throw CancellationError() }
            return m
        }
        #expect(try map("items").source == .items(["a", "b", "c"]))
        #expect(try map("shards").source.count == 4)
        #expect(try map("shards").allowFailures?.tolerated(of: 4) == 1)
        #expect(try map("glob").source == .glob(pattern: "\(Paths.fixtures)/valid/data/*.txt", matches: ["\(Paths.fixtures)/valid/data/one.txt", "\(Paths.fixtures)/valid/data/two.txt"]))
        #expect(try map("glob").reduce?.argv == Shell.standard.argv("cat"))
        #expect(try map("later").source.count == nil)
        #expect(try map("lines").source.count == nil)
        #expect(p.text.contains("(decided at run time)"))
        let env = try map("shards").environment(forShard: 2)
        #expect(env == ["SANDLOCK_ITEM": "2", "SANDLOCK_SHARD": "2", "SANDLOCK_SHARDS": "4", "CLONE_ID": "2"])
        let itemEnv = try #require(try map("items").environment(forShard: 1))
        #expect(itemEnv["SANDLOCK_ITEM"] == "b" && itemEnv["SANDLOCK_SHARDS"] == "3")
        #expect(try map("items").environment(forShard: 3) == nil)
        #expect(try map("glob").item(at: 1) == "\(Paths.fixtures)/valid/data/two.txt")
        #expect(try map("later").environment(forShard: 0) == nil)
        #expect(p.stage("items")?.environment(runDirectory: "/runs/1") == ["SANDLOCK_STAGE": "items", "SANDLOCK_RUN_DIR": "/runs/1"])
    }

    @Test func aMissingLinesFileIsAnErrorWhenInputsAreFinal() {
        let text = "version: 1\n" + basePolicy + "stages:\n  l: { map: { over: { lines: out/missing.txt } }, run: \"true\" }\n"
        let result = load(text, path: "valid/test.yaml", planner: Planner(inputsAreFinal: true, currentDirectory: Paths.fixtures))
        #expect(result.errors.count == 1)
        #expect(result.errors.first?.message.contains("cannot read") == true)
    }

    @Test func retryAndConditionComeThrough() throws {
        let p = try plan("""
            stages:
              a: { run: "true", retry: { limit: 2, on: [timeout, memory_limit], backoff: { delay: 1s, factor: 2, max: 3s } } }
              b: { run: "true", needs: a, if: always }
            """)
        let retry = try #require(p.stage("a")?.retry)
        #expect(retry.limit == 2 && retry.on == [.timeout, .memoryLimit])
        #expect(retry.backoff.delay(before: 1) == .seconds(1))
        #expect(retry.backoff.delay(before: 2) == .seconds(2))
        #expect(retry.backoff.delay(before: 3) == .seconds(3))
        #expect(p.stage("b")?.condition == .always)
    }

    @Test func dispositionsDefaultToCommitAndAbort() throws {
        let p = try plan("""
            policies:
              w: { filesystem: { read: [/usr], write: [out] } }
            stages:
              s: { run: "true", policy: w }
            """, withBase: false)
        let s = try #require(p.stage("s"))
        #expect(s.onSuccess == .commit)
        #expect(s.onFailure == .abort)
    }

    @Test func aStagesDispositionWinsOverDefaults() throws {
        let result = load("""
            version: 1
            policies:
              w: { filesystem: { read: [/usr], write: [out] } }
            defaults: { policy: w, on_success: keep, on_failure: commit }
            stages:
              inherits: { run: "true" }
              own: { run: "true", on_success: abort, on_failure: keep }
              half: { run: "true", on_failure: abort }
            """, path: "valid/test.yaml")
        #expect(result.diagnostics.isEmpty, "\(result.rendered)")
        let p = try #require(result.plan)
        #expect(p.stage("inherits")?.onSuccess == .keep)
        #expect(p.stage("inherits")?.onFailure == .commit)
        #expect(p.stage("own")?.onSuccess == .abort)
        #expect(p.stage("own")?.onFailure == .keep)
        #expect(p.stage("half")?.onSuccess == .keep)
        #expect(p.stage("half")?.onFailure == .abort)
    }

    @Test func aBadDispositionIsAnErrorWithDidYouMean() {
        let result = load("version: 1\n" + basePolicy + """
            stages:
              s: { run: "true", on_failure: kep }
            """, path: "valid/test.yaml")
        #expect(result.plan == nil)
        #expect(result.errors.map(\.message) == ["stage 's': on_failure: expected one of commit, abort, keep, found 'kep' (did you mean 'keep'?)"])
        #expect(result.errors.first?.mark == SourceMark(line: 6, column: 33))
    }

    /// `plan` and `plan --json` show a disposition only when it is not the default.
    @Test func planOutputShowsDispositionsThatDifferFromTheDefaults() throws {
        let p = try plan("""
            policies:
              w: { filesystem: { read: [/usr], write: [out] } }
            stages:
              plain: { run: "true", policy: w }
              kept: { run: "true", policy: w, on_success: keep, on_failure: commit }
              same: { run: "true", policy: w, on_success: commit, on_failure: abort }
            """, withBase: false)
        let lines = p.text.split(separator: "\n").map(String.init)
        #expect(lines.contains("  plain [command]"))
        #expect(lines.contains("  kept [command] on_success keep on_failure commit"))
        #expect(lines.contains("  same [command]"))
        let stages = try #require(try JSONSerialization.jsonObject(with: Data(p.json.rendered().utf8)) as? [String: Any])["stages"] as? [[String: Any]]
        let byName = Dictionary(uniqueKeysWithValues: (stages ?? []).map { ($0["name"] as? String ?? "", $0) })
        let plain = try #require(byName["plain"]), kept = try #require(byName["kept"]), same = try #require(byName["same"])
        #expect(plain["on_success"] == nil && plain["on_failure"] == nil)
        #expect(same["on_success"] == nil && same["on_failure"] == nil)
        #expect(kept["on_success"] as? String == "keep")
        #expect(kept["on_failure"] as? String == "commit")
    }

    /// A plan written before the dispositions existed (a run directory's `run.json`) still
    /// decodes, with the defaults.
    @Test func aPlanWithoutDispositionsDecodesWithTheDefaults() throws {
        let p = try plan("""
            policies:
              w: { filesystem: { read: [/usr], write: [out] } }
            stages:
              s: { run: "true", policy: w, on_success: keep, on_failure: keep }
            """, withBase: false)
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(p)) as? [String: Any])
        var stages = try #require(object["stages"] as? [[String: Any]])
        #expect(stages[0]["onSuccess"] as? String == "keep")
        stages[0]["onSuccess"] = nil
        stages[0]["onFailure"] = nil
        object["stages"] = stages
        let old = try JSONDecoder().decode(Plan.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(old.stages[0].onSuccess == .commit)
        #expect(old.stages[0].onFailure == .abort)
        var expected = p
        expected.stages[0].onSuccess = .commit
        expected.stages[0].onFailure = .abort
        #expect(old == expected)
    }

    /// `plan` output for people, pinned (the workdir replaced by `<workdir>`).
    @Test func planTextOfTheWordcountExample() throws {
        let result = try ManifestLoader().load(path: Paths.root + "/jobs/wordcount.yaml")
        let plan = try #require(result.plan)
        let expected = try String(contentsOfFile: Paths.fixtures + "/wordcount.plan.txt", encoding: .utf8)
        #expect(plan.text.replacingOccurrences(of: plan.workdir, with: "<workdir>") == expected)
    }

    @Test func graphFormats() throws {
        let p = try plan("""
            stages:
              a: { run: "true" }
              b: { run: "true", needs: [a], map: { over: { shards: 3 } } }
              c: { run: "true", needs: [b], if: failure }
            """)
        #expect(p.mermaid == """
            flowchart TD
                s0["a"]
                s1[["b<br/>map × 3"]]
                s2["c"]
                s0 --> s1
                s1 -. on failure .-> s2

            """)
        #expect(p.dot.contains("\"a\" -> \"b\";"))
        #expect(p.dot.contains("\"b\" -> \"c\" [style=dashed, label=\"on failure\"];"))
    }

    /// How long this takes is measured by Scripts/bench/plan.sh, not asserted here.
    @Test func tenThousandItemsPlanAndTheItemsAreStoredOnce() throws {
        let items = (0..<10_000).map { "item-\($0)" }.joined(separator: ", ")
        let text = "version: 1\n" + basePolicy + """
            stages:
              fan: { map: { over: { items: [\(items)] }, max_parallel: 8 }, run: echo "$SANDLOCK_ITEM", reduce: { run: wc -l } }
              after: { run: "true", needs: [fan] }
            """
        let result = load(text, path: "valid/big.yaml")
        #expect(!result.hasErrors, "\(result.rendered)")
        let plan = try #require(result.plan)
        guard case .map(let m) = plan.stages[0].work else { Issue.record("not a map"); return }
        #expect(m.source.count == 10_000)
        // The JSON plan holds each item once: its size grows by the items' text, not per field.
        let json = plan.json.rendered()
        let itemBytes = (0..<10_000).reduce(0) { $0 + "\"item-\($1)\", ".utf8.count }
        #expect(json.utf8.count < itemBytes + 8_000, "plan JSON is \(json.utf8.count) bytes")
        #expect(json.components(separatedBy: "\"item-9999\"").count == 2)
    }
}

@Suite struct PlannerWarningTests {
    @Test func aPipelineWhoseMembersAllHavePoliciesIsConfined() {
        let result = load("""
            version: 1
            policies:
              p: { filesystem: { read: [/usr] } }
            stages:
              s:
                pipeline:
                  - { run: cat, policy: p }
                  - { run: sort, policy: p }
              t:
                pipeline:
                  - { run: cat, policy: p }
                  - { run: sort }
            """, path: "valid/test.yaml")
        #expect(result.errors.isEmpty)
        #expect(result.warnings.map(\.message) == ["no policy for stage 't': set 'policy:' or 'defaults.policy' (an empty policy grants nothing)"])
    }

    /// `on_success`/`on_failure` settle the copy-on-write workspace of the workdir: a stage
    /// that sets one but writes nothing inside the workdir gets a warning at the key.
    @Test func aDispositionWithoutWritesInTheWorkdirIsAWarning() throws {
        let result = load("""
            version: 1
            policies:
              reader: { filesystem: { read: [/usr] } }
              writer: { filesystem: { read: [/usr], write: [out] } }
              outside: { filesystem: { read: [/usr], write: [/tmp] } }
            defaults: { policy: reader, on_success: keep }
            stages:
              reads:
                run: "true"
                on_success: commit
                on_failure: keep
              tmp: { run: "true", policy: outside, on_failure: keep }
              writes: { run: "true", policy: writer, on_success: keep }
              member:
                pipeline:
                  - { run: cat }
                  - { run: sort, policy: writer }
                on_failure: keep
              inherited: { run: "true" }
            """, path: "valid/test.yaml")
        #expect(result.errors.isEmpty, "\(result.rendered)")
        #expect(result.plan != nil)
        #expect(result.warnings.map(\.message) == [
            "stage 'reads': on_success has no effect: no filesystem.write path inside the workdir",
            "stage 'reads': on_failure has no effect: no filesystem.write path inside the workdir",
            "stage 'tmp': on_failure has no effect: no filesystem.write path inside the workdir",
        ])
        #expect(result.warnings.map(\.mark) == [
            SourceMark(line: 10, column: 5), SourceMark(line: 11, column: 5), SourceMark(line: 12, column: 40),
        ])
        #expect(result.plan?.stage("reads")?.onFailure == .keep)
        #expect(result.plan?.stage("inherited")?.onSuccess == .keep)
    }

    @Test func writeToRootAndUnusedPoliciesAreWarningsOnly() throws {
        let result = load("""
            version: 1
            policies:
              all: { filesystem: { read: [/], write: [/] } }
              spare: { filesystem: { read: [/usr] } }
            stages:
              s: { run: "true", policy: all }
            """, path: "valid/test.yaml")
        #expect(result.errors.isEmpty)
        #expect(result.plan != nil)
        #expect(result.warnings.map(\.message) == [
            "policy 'all': filesystem.write: grants write access to the whole filesystem ('/')",
            "policy 'spare' is never used",
        ])
    }
}
