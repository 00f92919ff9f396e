import Foundation
import SandlockCore
import Testing
@testable import SandlockJobs

/// `sandlock-jobs validate` rejects what `sandlock run` and the engine would: the ranges of
/// `Policy.fields` and `Policy.validate()`, reported at `file:line:col` of the key.
@Suite struct PolicyValidationTests {
    func rendered(_ policy: String) -> ManifestLoader.Result {
        load("""
            version: 1
            policies:
              base:
                filesystem: { read: [/usr, /bin] }
            \(policy)
            defaults: { policy: base }
            stages:
              a: { run: "true" }
            """, path: "invalid/test.yaml")
    }

    @Test func cpuAboveOneHundredPercentIsAnError() {
        let result = rendered("    limits: { cpu: 150 }")
        #expect(result.plan == nil)
        #expect(result.rendered == """
            invalid/test.yaml:5:20: error: policy 'base': limits.cpu: expected an integer from 1 to 100, found '150'
                limits: { cpu: 150 }
                               ^~~

            """)
    }

    @Test func cpuCoresBeyondTheAffinityMaskAreAnError() {
        let result = rendered("    limits: { cpu_cores: [0, 2000] }")
        #expect(result.plan == nil)
        #expect(result.errors.count == 1)
        #expect(result.errors.first?.mark == SourceMark(line: 5, column: 30))
        #expect(result.errors.first?.message == "policy 'base': limits.cpu_cores: expected an integer from 0 to 1023, found '2000'")
    }

    @Test func problemsOnlyTheEngineSawAreReportedAtTheKey() {
        let result = rendered("""
                network: { allow: ["bad_host:80"] }
                limits: { memory: 0, cpu_cores: [] }
                syscalls: { extra_allow: [mount], extra_deny: [not_a_syscall] }
            """)
        #expect(result.plan == nil)
        #expect(result.errors.map(\.message) == [
            "policy 'base': network.allow: 'bad_host:80' names no valid host; expected host:port[,port…], :port, [v6]:port or cidr:port",
            "policy 'base': limits.memory: must be at least 1 byte",
            "policy 'base': limits.cpu_cores: needs at least one CPU (from 0 to 1023)",
            "policy 'base': syscalls.extra_allow: unknown group 'mount' (known: sysv_ipc)",
            "policy 'base': syscalls.extra_deny: unknown syscall 'not_a_syscall'",
        ])
        #expect(result.errors.map { $0.mark?.line ?? 0 } == [5, 6, 6, 7, 7])
    }

    @Test func theSamePolicyValidatesInTheEngine() throws {
        var policy = Policy()
        policy.maxCPU = 150
        #expect(throws: SandboxError.invalidPolicy("max_cpu: expected a percentage from 1 to 100, got 150")) {
            try policy.validate()
        }
        policy.maxCPU = 100
        policy.cpuCores = [2000]
        #expect(throws: SandboxError.invalidPolicy("cpu_cores: must list CPUs from 0 to 1023, got 2000")) {
            _ = try Sandbox(policy: policy).spawn(["/bin/true"])
        }
    }

    /// The rows of docs/manifest.md's policy table name exactly the table's manifest keys,
    /// with their `Policy` field's flags.
    @Test func docsListEveryManifestKey() throws {
        let doc = try String(contentsOfFile: Paths.root + "/docs/manifest.md", encoding: .utf8)
        for field in Policy.fields {
            guard let key = field.manifest else { continue }
            let row = try #require(doc.split(separator: "\n").first { $0.hasPrefix("| `\(key.path)` |") }, "docs/manifest.md has no row for \(key.path)")
            for flag in Set([field.flags.first, field.flag].compactMap { $0 }) {
                #expect(row.contains(flag), "docs/manifest.md: \(key.path) should mention \(flag)")
            }
        }
    }
}
