import Foundation
import SandlockCore
import Testing
@testable import SandlockJobs

/// Issue 19: `params:`, `--set` and `${…}` references, resolved at plan time.
@Suite struct InterpolationTests {
    func load(_ body: String, set overrides: [String: String] = [:], env: [String: String] = [:]) -> ManifestLoader.Result {
        var loader = ManifestLoader(planner: Planner(currentDirectory: Paths.fixtures))
        loader.interpolation = Interpolation(overrides: overrides, environment: { env[$0] })
        return loader.load(SourceFile(path: "valid/test.yaml", text: "version: 1\n" + basePolicy + body))
    }

    static let manifest = """
        params: { who: world, dir: data }
        env: { GREETING: "hello ${params.who}" }
        stages:
          say:
            run: echo "${params.who} from ${stage} in ${workdir} as ${env.USER_NAME}"
            policy: { extends: base, filesystem: { read: ["${workdir}/${params.dir}"] } }
            cwd: ${params.dir}
          argv: { run: [echo, "${params.who}"] }
          shell: { run: "echo ${HOME} ${x:-y}" }
          fan:
            map: { over: { glob: "${params.dir}/*.txt" } }
            run: wc -l ${item}
        """

    @Test("defaults, --set, ${env.X}, ${workdir}, ${stage} in run, env and paths; ${item} becomes the quoted variable; argv lists stay as written")
    func resolves() throws {
        let workdir = Paths.fixtures + "/valid"
        let result = load(Self.manifest, set: ["who": "you"], env: ["USER_NAME": "ada"])
        let plan = try #require(result.plan, "\(result.rendered)")
        guard case .command(let say) = try #require(plan.stage("say")).work,
              case .command(let argv) = try #require(plan.stage("argv")).work,
              case .map(let fan) = try #require(plan.stage("fan")).work else { Issue.record("shapes"); return }
        #expect(Shell.script(of: say.argv) == "echo \"you from say in \(workdir) as ada\"")
        #expect(say.policy.env["GREETING"] == "hello you")
        #expect(say.policy.fsReadable.contains(workdir + "/data") && say.policy.cwd == workdir + "/data")
        #expect(argv.argv == ["echo", "${params.who}"])
        guard case .command(let shell) = try #require(plan.stage("shell")).work else { return }
        #expect(Shell.script(of: shell.argv) == "echo ${HOME} ${x:-y}", "the shell's own")
        #expect(Shell.script(of: fan.worker.argv) == "wc -l \"$SANDLOCK_ITEM\"")
        #expect(fan.source == .glob(pattern: workdir + "/data/*.txt", matches: [workdir + "/data/one.txt", workdir + "/data/two.txt"]))
        // The default when nothing is set.
        let plain = try #require(load(Self.manifest, env: ["USER_NAME": "ada"]).plan)
        guard case .command(let byDefault) = try #require(plain.stage("say")).work else { return }
        #expect(byDefault.policy.env["GREETING"] == "hello world")
    }

    @Test("unknown names are errors at their line and column; the shell's own ${…} stays")
    func unknownNames() {
        let result = load("""
            params: { who: world }
            stages:
              a: { run: "echo ${params.whom} ${HOME}" }
              b: { run: "echo ${env.NOT_SET_19}" }
              c: { run: "true", env: { X: "${item}" } }
            env: { S: "${stage}" }
            """, set: ["nobody": "x"])
        let messages = result.errors.map { "\($0.mark.map { "\($0.line):\($0.column)" } ?? "-") \($0.message)" }
        #expect(messages == [
            "- --set nobody: the manifest has no parameter 'nobody'",
            "7:19 unknown parameter 'whom' (did you mean 'who'?)",
            "8:19 environment variable 'NOT_SET_19' is not set (${env.NOT_SET_19}); export it, or use a parameter with a default",
            "9:32 ${item} is known only in the run string of a map stage; elsewhere a worker reads $SANDLOCK_ITEM",
            "10:12 ${stage} is known only inside a stage",
        ], "\(result.rendered)")
    }
}

extension RunnerCLITests {
    @Test("sandlock-jobs run --set NAME=VALUE overrides a parameter; a malformed --set is a usage error")
    func runWithSet() throws {
        let job = try RunnerJob()
        defer { job.remove() }
        _ = try job.plan("""
            params: { who: world }
            stages:
              say: { run: "echo hello ${params.who}" }
            """)
        let r = try run(["run", "--set", "who=there", "--progress", "plain", "job.yaml"], in: job.directory)
        #expect(r.status == 0, "\(r.stderr)")
        let directory = try #require(RunDirectory.find("latest", root: RunDirectory.runsRoot(workdir: job.directory)))
        #expect(contents(directory.stageDirectory("say") + "/stdout.log") == "hello there\n")
        #expect(try run(["run", "--set", "who", "job.yaml"], in: job.directory).status == 64)
        let unknown = try run(["run", "--set", "whom=x", "job.yaml"], in: job.directory)
        #expect(unknown.status == 65 && unknown.stderr.contains("--set whom: the manifest has no parameter 'whom' (did you mean 'who'?)"), "\(unknown.stderr)")
    }
}
