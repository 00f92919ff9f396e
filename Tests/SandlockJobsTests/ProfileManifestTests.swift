import Foundation
import SandlockCore
import SandlockTestSupport
import Testing
@testable import SandlockJobs

/// `extends: [profile:NAME]` in a manifest: sandlock's TOML profile as a base policy.
@Suite struct ProfileManifestTests {
    /// A profiles directory of the test's own (the planner is given it; nothing is set in the
    /// environment).
    struct Store {
        let directory: String
        var store: ProfileStore { ProfileStore(directory: directory) }

        init(_ profiles: [String: String]) throws {
            var template = Array("/tmp/sandlock-profile-store-XXXXXX".utf8CString)
            directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
            for (name, text) in profiles { try text.write(toFile: directory + "/\(name).toml", atomically: true, encoding: .utf8) }
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    func load(_ body: String, _ store: Store) -> ManifestLoader.Result {
        SandlockJobsTests.load("version: 1\n" + body, path: "valid/test.yaml",
                               planner: Planner(currentDirectory: Paths.fixtures, profiles: store.store))
    }

    @Test func aProfileIsABasePolicyWhoseListsTheManifestExtends() throws {
        let store = try Store(["build": """
            fs_readable = ["/usr", "/bin"]
            max_memory = "512M"
            max_processes = 50

            [env]
            CC = "gcc"
            """])
        defer { store.remove() }
        let result = load("""
            policies:
              b: { extends: [profile:build], filesystem: { read: [/etc] }, limits: { processes: 8 } }
            stages:
              one: { run: "true", policy: b }
              two: { run: "true", policy: { extends: profile:build } }
            """, store)
        #expect(result.errors.isEmpty, "\(result.rendered)")
        let plan = try #require(result.plan)
        let one = try #require(plan.stage("one")?.processes.first?.policy)
        #expect(one.fsReadable == ["/usr", "/bin", "/etc"])
        #expect(one.maxMemory == 512 << 20 && one.maxProcesses == 8 && one.env["CC"] == "gcc")
        let two = try #require(plan.stage("two")?.processes.first?.policy)
        #expect(two.fsReadable == ["/usr", "/bin"] && two.maxProcesses == 50)
    }

    @Test func aMissingOrBrokenProfileIsAnErrorAtTheExtendsEntry() throws {
        let store = try Store([
            "build": "fs_readable = [\"/usr\"]\n",
            "broken": "fs_readable = [\"/usr\"]\nmax_memroy = \"1G\"\n",
            "cli": "fs_readable = [\"/usr\"]\ntimeout = \"5m\"\n",
        ])
        defer { store.remove() }
        let cases: [(String, String)] = [
            ("biuld", "valid/test.yaml:3:40: error: stage 's': policy: extends profile:biuld: \(store.directory)/biuld.toml: no profile 'biuld' in \(store.directory) (did you mean 'build'?)"),
            ("broken", "valid/test.yaml:3:40: error: stage 's': policy: extends profile:broken: \(store.directory)/broken.toml:2:1: unknown key 'max_memroy' (did you mean 'max_memory'?)"),
            ("cli", "valid/test.yaml:3:40: error: stage 's': policy: extends profile:cli: timeout (set by \(store.directory)/cli.toml) cannot be set in a manifest"),
        ]
        for (name, expected) in cases {
            let result = load("stages:\n  s: { run: \"true\", policy: { extends: profile:\(name) } }\n", store)
            #expect(result.plan == nil)
            #expect(result.rendered.contains(expected), "\(result.rendered)")
        }
    }

    @Test("sandlock-jobs run with a stage on a profile: the profile's grants hold, and only they",
          Fixture.needs(Requirement.sandbox + [.seccompUserNotification]))
    func endToEnd() throws {
        let job = try RunnerJob(), config = try RunnerJob()
        defer { job.remove(); config.remove() }
        let profiles = config.directory + "/sandlock/profiles"
        try FileManager.default.createDirectory(atPath: profiles, withIntermediateDirectories: true)
        try "fs_readable = [\"/usr\", \"/lib\", \"/lib64\", \"/bin\", \"/etc\"]\n[env]\nFROM = \"profile\"\n"
            .write(toFile: profiles + "/sys.toml", atomically: true, encoding: .utf8)
        try job.write("job.yaml", """
            version: 1
            stages:
              greet: { run: "echo $FROM > out/greeting", policy: { extends: [profile:sys], filesystem: { write: [out] } } }
              peek: { run: "cat \(config.directory)/sandlock/profiles/sys.toml", policy: { extends: profile:sys }, needs: [greet] }
            """)
        let binary = try #require(SandlockJobsCLITests.binary)
        let run = try Fixture.runBare([binary, "run", "--keep-going", "--progress", "plain", job.directory + "/job.yaml"],
                                      environment: ["XDG_CONFIG_HOME": config.directory, "PATH": "/usr/bin:/bin"])
        #expect(job.read("out/greeting") == "profile\n", "\(run.stderr)")
        // The profile grants no read of the config directory: the second stage is denied.
        #expect(run.status == 1 && run.stderr.contains("stage 'peek' failed"), "\(run.stderr)")
    }
}
