import Foundation
import SandlockCore
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// Issue 19: `secrets:` reach the stages that list them, are never written to the run
/// directory, and are masked (`***`) in logs and summaries.
extension RunnerCLITests {
    static let secret = "s3cr3t-XYZ-19-value"

    /// Every file below `directory` whose contents hold `needle`.
    static func files(under directory: String, containing needle: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: directory)
        var found: [String] = []
        while let name = enumerator?.nextObject() as? String {
            let path = directory + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            if let data = FileManager.default.contents(atPath: path), String(decoding: data, as: UTF8.self).contains(needle) { found.append(name) }
        }
        return found
    }

    @Test("secrets: the stages that list one see it; no file of the run directory and nothing printed holds it; logs and summaries show ***")
    func secretsMaskedEverywhere() throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("""
            stages:
              deploy:
                secrets: [API_TOKEN]
                policy: { extends: sys, filesystem: { write: [out] } }
                on_failure: keep
                run: |
                  [ "$(printf %s "$API_TOKEN" | wc -c)" = \(Self.secret.count) ] && echo "token seen"
                  echo "token=$API_TOKEN"
                  echo "err $API_TOKEN" >&2
                  echo "$API_TOKEN" > out/token.txt
                  exit 3
              fan:
                secrets: API_TOKEN
                map: { over: { shards: 2 } }
                run: echo "shard $SANDLOCK_SHARD $API_TOKEN"
                reduce: { run: cat }
              other:
                run: echo "other ${API_TOKEN:-unset}"
            """)
        let r = try run(["run", "--keep-going", "--progress", "plain", "--json", "--junit", "report.xml", "job.yaml"],
                        in: job.directory, environment: ["API_TOKEN": Self.secret])
        #expect(r.status == 1, "\(r.stderr)")
        let directory = try #require(RunDirectory.find("latest", root: RunDirectory.runsRoot(workdir: job.directory)))
        // Positive controls: the stages that list the secret got it, the other did not.
        #expect(contents(directory.stageDirectory("deploy") + "/stdout.log") == "token seen\ntoken=***\n")
        #expect(contents(directory.stageDirectory("deploy") + "/stderr.log") == "err ***\n")
        #expect(contents(directory.stageDirectory("fan") + "/stdout.log") == "shard 0 ***\nshard 1 ***\n")
        #expect(contents(directory.stageDirectory("other") + "/stdout.log") == "other unset\n")
        #expect(contents(directory.stageDirectory("deploy") + "/changes.diff").contains("+***"))
        #expect(r.stderr.contains("err ***"), "the failure summary shows the masked tail: \(r.stderr)")
        // Nothing holds the value: run directory, printed output, the JUnit report.
        #expect(Self.files(under: directory.path, containing: Self.secret).isEmpty)
        #expect(!r.stdout.contains(Self.secret) && !r.stderr.contains(Self.secret))
        #expect(!contents(job.directory + "/report.xml").contains(Self.secret))
        #expect(contents(directory.path + "/run.json").contains("API_TOKEN"), "the name is recorded, not the value")
    }

    @Test("a secret missing from the environment stops the run before anything runs, naming it and the stage")
    func missingSecret() throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("""
            stages:
              first: { run: echo ran > /dev/null }
              deploy: { secrets: [SANDLOCK_TEST_SECRET_NEVER_SET_19], run: "true" }
            """)
        let r = try run(["run", "job.yaml"], in: job.directory)
        #expect(r.status == 64)
        #expect(r.stderr.contains("secret 'SANDLOCK_TEST_SECRET_NEVER_SET_19' (stage 'deploy') is not set in the environment"), "\(r.stderr)")
        #expect(RunDirectory.list(root: RunDirectory.runsRoot(workdir: job.directory)).isEmpty, "no run was started")
        // Positive control: with --only a stage that needs no secret runs.
        let only = try run(["run", "--only", "first", "job.yaml"], in: job.directory)
        #expect(only.status == 0, "\(only.stderr)")
    }
}

@Suite struct SecretMaskTests {
    @Test("masking: longest secret first, each line of a multi-line one, matches across the streaming chunk boundary")
    func masking() throws {
        let mask = SecretMask(["abc", "abcdef", "line one\nline two", ""])
        #expect(mask.masked("x abcdef y abc z") == "x *** y *** z")
        #expect(mask.masked("line two alone") == "*** alone")
        #expect(mask.masked("ab abXde abc") == "ab abXde ***", "near misses stay")
        let job = try RunnerJob()
        defer { job.remove() }
        // A secret straddling the 1 MiB chunk boundary.
        let text = String(repeating: "-", count: (1 << 20) - 3) + "abcdef" + "\n"
        try job.write("stage/log.txt", text)
        #expect(mask.maskFiles(under: job.directory + "/stage").isEmpty)
        #expect(job.read("stage/log.txt") == String(repeating: "-", count: (1 << 20) - 3) + "***\n")
    }
}
