import Foundation
import SandlockCore
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// Issue 19: `map.over.matrix` with `exclude:`/`include:` as GitHub Actions expands them.
@Suite struct MatrixTests {
    func combinations(_ matrix: String) throws -> [[String: String]] {
        let result = load("version: 1\n" + basePolicy + """
            stages:
              m:
                map:
                  over:
                    matrix:
            \(matrix)
                run: "true"
            """, path: "valid/test.yaml")
        #expect(result.errors.isEmpty, "\(result.rendered)")
        guard case .map(let map) = try #require(result.plan?.stage("m")).work, case .matrix(let c) = map.source else {
            Issue.record("not a matrix fan-out")
            return []
        }
        return c.map { Dictionary(uniqueKeysWithValues: zip($0.keys, $0.values)) }
    }

    @Test("include as in GitHub Actions' own example: added keys go to matching combinations, unmatched entries become their own")
    func includeLikeGitHubActions() throws {
        let result = try combinations("""
                      fruit: [apple, pear]
                      animal: [cat, dog]
                      include:
                        - color: green
                        - color: pink
                          animal: cat
                        - fruit: apple
                          shape: circle
                        - fruit: banana
                        - fruit: banana
                          animal: cat
            """)
        #expect(result == [
            ["fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"],
            ["fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"],
            ["fruit": "pear", "animal": "cat", "color": "pink"],
            ["fruit": "pear", "animal": "dog", "color": "green"],
            ["fruit": "banana"],
            ["fruit": "banana", "animal": "cat"],
        ])
    }

    @Test("exclude removes every combination an entry matches (a partial entry matches several); the first key varies slowest")
    func excludeLikeGitHubActions() throws {
        let result = try combinations("""
                      os: [macos, windows]
                      version: [12, 14, 16]
                      environment: [staging, production]
                      exclude:
                        - { os: macos, version: 12, environment: production }
                        - { os: windows, version: 16 }
            """)
        #expect(result.count == 9)
        #expect(result.first == ["os": "macos", "version": "12", "environment": "staging"])
        #expect(result[1] == ["os": "macos", "version": "14", "environment": "staging"])
        #expect(!result.contains(["os": "windows", "version": "16", "environment": "staging"]))
        #expect(result.last == ["os": "windows", "version": "14", "environment": "production"])
    }

    @Test("SANDLOCK_ITEM is the combination as JSON, SANDLOCK_MATRIX_<KEY> each value; plan counts the combinations")
    func environmentAndPlan() throws {
        let result = load("version: 1\n" + basePolicy + """
            stages:
              m:
                map: { over: { matrix: { python-version: ["3.11", "3.12"], mode: [fast] } } }
                run: "true"
            """, path: "valid/test.yaml")
        let plan = try #require(result.plan, "\(result.rendered)")
        guard case .map(let map) = try #require(plan.stage("m")).work else { Issue.record("not a map"); return }
        let env = try #require(map.environment(forShard: 1))
        #expect(env["SANDLOCK_ITEM"] == #"{"python-version":"3.12","mode":"fast"}"#)
        #expect(env["SANDLOCK_MATRIX_PYTHON_VERSION"] == "3.12" && env["SANDLOCK_MATRIX_MODE"] == "fast")
        #expect(env["SANDLOCK_SHARDS"] == "2")
        #expect(plan.text.contains("m [map over 2 matrix combinations of python-version, mode]"), "\(plan.text)")
    }

    @Test("bad matrices are errors at the offending key or value")
    func badMatrices() {
        let result = load("version: 1\n" + basePolicy + """
            stages:
              a: { map: { over: { matrix: { os: [linux], exclude: [{ arch: arm }] } } }, run: "true" }
              b: { map: { over: { matrix: { os: [] } } }, run: "true" }
              c: { map: { over: { matrix: { os: [linux], exclude: [{ os: linux }] } } }, run: "true" }
              d: { map: { over: { matrix: { py-version: [a], py_version: [b] } } }, run: "true" }
              e: { map: { over: { matrix: { os: [[linux]] } } }, run: "true" }
            """)
        let messages = result.errors.map { "\($0.mark?.line ?? 0):\($0.mark?.column ?? 0) \($0.message)" }
        #expect(messages == [
            "6:58 stage 'a': map.over.matrix.exclude: 'arch' is not a key of the matrix",
            "7:37 stage 'b': map.over.matrix.os: the list of values is empty",
            "8:31 stage 'c': map.over.matrix: every combination is excluded",
            "9:50 stage 'd': map.over.matrix: matrix keys 'py-version' and 'py_version' both make SANDLOCK_MATRIX_PY_VERSION",
            "10:38 stage 'e': map.over.matrix.os: expected a scalar value, found a list",
        ], "\(result.rendered)")
    }
}

@Suite("Matrix fan-out, run", needsKernel)
struct MatrixRunTests {
    @Test("each shard runs one combination with its variables; the reducer reads them in order")
    func runsEachCombination() async throws {
        let job = try RunnerJob()
        defer { job.remove() }
        let (run, stages, directory) = try await job.run("""
            stages:
              test:
                map:
                  over:
                    matrix:
                      python: ["3.11", "3.12"]
                      mode: [fast, safe]
                      exclude: [{ python: "3.11", mode: safe }]
                      include: [{ python: "3.13", mode: fast }]
                run: echo "$SANDLOCK_MATRIX_PYTHON/$SANDLOCK_MATRIX_MODE $SANDLOCK_ITEM"
                reduce: { run: cat }
            """)
        #expect(run.status == .succeeded, "\(stages.mapValues { $0.message ?? $0.reasonText })")
        #expect(stages["test"]?.shards?.total == 4)
        #expect(contents(directory.stageDirectory("test") + "/stdout.log") == """
            3.11/fast {"python":"3.11","mode":"fast"}
            3.12/fast {"python":"3.12","mode":"fast"}
            3.12/safe {"python":"3.12","mode":"safe"}
            3.13/fast {"python":"3.13","mode":"fast"}

            """)
        #expect(directory.readShardRecord("test", 3)?.item == #"{"python":"3.13","mode":"fast"}"#)
    }
}
