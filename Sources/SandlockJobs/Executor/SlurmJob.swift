import FoundationEssentials
import SandlockCore

/// One sbatch submission of a run on Slurm: a command or pipeline stage (one job), a map
/// stage's workers (one job array, an element per shard) or a map stage's reducer (one job
/// that also writes the stage's record).
public struct SlurmJob: Sendable, Codable, Hashable {
    public enum Role: String, Sendable, Codable, Hashable {
        case stage, shards, reduce
    }

    public var stage: String
    public var role: Role
    /// Slurm's job id (of the array, for `shards`); nil until submitted.
    public var id: String?
    /// The script, relative to the run directory.
    public var script: String

    enum CodingKeys: String, CodingKey {
        case stage, role, id = "job_id", script
    }
}

/// What `--partition`, `--account` and `--sbatch-arg` add to every job of a run, and the
/// `sandlock-jobs` program each job runs on its node.
public struct SlurmOptions: Sendable, Hashable {
    public var partition: String?
    public var account: String?
    /// Extra `sbatch` arguments, one `#SBATCH` line each, as given.
    public var extraArguments: [String]
    /// Absolute path of the `sandlock-jobs` that runs `exec` on the nodes.
    public var executable: String

    public init(partition: String? = nil, account: String? = nil, extraArguments: [String] = [], executable: String) {
        self.partition = partition
        self.account = account
        self.extraArguments = extraArguments
        self.executable = executable
    }
}

/// The plan as Slurm jobs: which jobs each stage becomes, what each depends on, and the
/// script each is submitted with.
struct SlurmGraph {
    let plan: Plan
    let directory: RunDirectory
    let options: SlurmOptions

    /// The scripts run outside any sandbox on the nodes: a value written into one must not
    /// be able to start a line of its own (a newline in the manifest's name, its path or the
    /// workdir would be a shell command there), and a path in an `#SBATCH` line, which
    /// sbatch splits at whitespace, must be one word. Job names are only labels: their
    /// other characters become `_`.
    func checkScriptValues() throws(SlurmError) {
        let lines: [(String, String)] = [("the manifest's name", plan.name), ("the manifest's path", plan.manifestPath),
                                         ("the sandlock-jobs path", options.executable)]
            + options.extraArguments.map { ("--sbatch-arg", $0) }
        let words: [(String, String)] = [("the workdir", plan.workdir), ("the run directory", directory.path),
                                         ("--partition", options.partition ?? ""), ("--account", options.account ?? "")]
        for (what, value) in lines + words where value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw .unsupported("\(what) contains a control character (a newline would start a line of its own in the sbatch script, which runs outside the sandbox): \(value.debugDescription)")
        }
        for (what, value) in words where value.contains(where: { $0.isWhitespace || $0 == "'" || $0 == "\"" || $0 == "\\" }) {
            throw .unsupported("\(what) \(value.debugDescription) contains whitespace or a quote, which an #SBATCH line cannot carry: choose a path without (--run-dir for the run directory)")
        }
    }

    /// The job's name: the manifest's and the stage's, in characters Slurm shows as they are.
    func jobName(_ stage: PlannedStage, _ role: SlurmJob.Role) -> String {
        let name = "\(plan.name)/\(stage.name)\(role == .reduce ? "/reduce" : "")"
        return String(name.map { $0.isLetter || $0.isNumber || "/_-.".contains($0) ? $0 : "_" })
    }

    /// Every job, in submission order (a stage's needs' jobs first).
    var jobs: [SlurmJob] {
        plan.stages.flatMap { stage -> [SlurmJob] in
            let roles: [SlurmJob.Role] = if case .map = stage.work { [.shards, .reduce] } else { [.stage] }
            return roles.map { SlurmJob(stage: stage.name, role: $0, id: nil, script: directory.relative(directory.slurmScript(stage.name, $0))) }
        }
    }

    /// The job whose end is the stage's end (the one that writes its record).
    static func finalRole(of stage: PlannedStage) -> SlurmJob.Role {
        if case .map = stage.work { .reduce } else { .stage }
    }

    /// The `--dependency` of a job, given the ids of the jobs submitted before it; nil for a
    /// root. `needs:` is afterok on every need, `if: failure` afternotok on any of them
    /// (`?` is Slurm's "or"), `if: always` afterany; a map's reducer waits for the whole array
    /// (afterok, or afterany when `allow_failures` lets it run after failed shards).
    func dependency(of job: SlurmJob, ids: (String, SlurmJob.Role) -> String) -> String? {
        guard let stage = plan.stage(job.stage) else { return nil }
        if job.role == .reduce, case .map(let map) = stage.work {
            return (map.allowFailures == nil ? "afterok:" : "afterany:") + ids(stage.name, .shards)
        }
        guard !stage.needs.isEmpty else { return nil }
        let needs = stage.needs.compactMap { plan.stage($0) }.map { ids($0.name, Self.finalRole(of: $0)) }
        return switch stage.condition {
        case .success: "afterok:" + needs.joined(separator: ":")
        case .failure: needs.map { "afternotok:" + $0 }.joined(separator: "?")
        case .always: "afterany:" + needs.joined(separator: ":")
        }
    }

    /// The sbatch script: `#SBATCH` lines (resources, dependency, output), then `exec` of
    /// this job's part of the stage. `dependency` is the resolved `--dependency`; `hold`
    /// submits it held (roots, released once the whole DAG is in).
    func script(for job: SlurmJob, dependency: String?, hold: Bool) -> String {
        guard let stage = plan.stage(job.stage) else { return "" }
        var lines = ["#!/bin/sh",
                     "# sandlock-jobs: run \(directory.id) of \(plan.manifestPath), stage '\(stage.name)': \(Self.summary(of: job.role, stage))",
                     "#SBATCH --job-name=\(jobName(stage, job.role))",
                     "#SBATCH --chdir=\(plan.workdir)",
                     "#SBATCH --output=\(directory.slurmOutputPattern(stage.name, job.role))"]
        if job.role == .shards, case .map(let map) = stage.work, let count = map.source.count {
            let parallel = map.maxParallel.map { "%\($0)" } ?? ""
            lines.append("#SBATCH --array=0-\(max(0, count - 1))\(parallel)")
        }
        let processes = Self.processes(of: job.role, stage)
        if let time = Self.timeLimit(of: stage, processes: processes.count) { lines.append("#SBATCH --time=\(time)") }
        if let memory = Self.memory(of: processes, pipeline: job.role == .stage && processes.count > 1) {
            lines.append("#SBATCH --mem=\(memory)M")
        }
        if let cpus = processes.compactMap({ $0.policy.numCPUs ?? $0.policy.cpuCores?.count }).max() {
            lines.append("#SBATCH --cpus-per-task=\(cpus)")
        }
        if let partition = options.partition { lines.append("#SBATCH --partition=\(partition)") }
        if let account = options.account { lines.append("#SBATCH --account=\(account)") }
        if let dependency { lines.append("#SBATCH --dependency=\(dependency)") }
        lines.append("#SBATCH --kill-on-invalid-dep=yes")
        if hold { lines.append("#SBATCH --hold") }
        lines += options.extraArguments.map { "#SBATCH \($0)" }
        var command = [options.executable, "exec", "--run-dir", directory.path, "--stage", stage.name].map(Self.quoted)
        switch job.role {
        case .stage: break
        case .shards: command += ["--shard", "\"$SLURM_ARRAY_TASK_ID\""]
        case .reduce: command.append("--reduce")
        }
        lines.append("exec " + command.joined(separator: " "))
        return lines.joined(separator: "\n") + "\n"
    }

    static func summary(of role: SlurmJob.Role, _ stage: PlannedStage) -> String {
        switch (role, stage.work) {
        case (.shards, _): "the workers, one array element per shard"
        case (.reduce, .map(let map)): map.reduce == nil ? "the stage's record once its shards ended" : "the reducer, then the stage's record"
        case (_, .pipeline(let members)): "the pipeline (\(members.count) members, joined by pipes on one node)"
        default: "the command"
        }
    }

    /// The processes a job runs at once (all of a pipeline's members, one worker, the reducer).
    static func processes(of role: SlurmJob.Role, _ stage: PlannedStage) -> [PlannedProcess] {
        switch (role, stage.work) {
        case (_, .command(let p)): [p]
        case (_, .pipeline(let members)): members
        case (.reduce, .map(let map)): map.reduce.map { [$0] } ?? []
        case (_, .map(let map)): [map.worker]
        }
    }

    /// `--time`: every attempt at the stage's timeout plus the backoffs between them, and a
    /// minute for starting and settling; whole minutes, as Slurm counts.
    static func timeLimit(of stage: PlannedStage, processes: Int) -> String? {
        guard let timeout = stage.timeout, processes > 0 else { return nil }
        let attempts = (stage.retry?.limit ?? 0) + 1
        var seconds = Double(attempts) * Self.seconds(timeout) + 60
        if let retry = stage.retry, attempts > 1 {
            for attempt in 1..<attempts { seconds += Self.seconds(retry.backoff.delay(before: attempt)) }
        }
        let minutes = Int((seconds / 60).rounded(.up))
        return "\(minutes / 1440)-\(two(minutes / 60 % 24)):\(two(minutes % 60)):00"
    }

    /// `--mem` in MiB: the sandbox limits of the processes running at once (a pipeline's
    /// members add up) and 256 MiB for `sandlock-jobs exec` itself; nil when a process has no
    /// memory limit (the partition's default applies).
    static func memory(of processes: [PlannedProcess], pipeline: Bool) -> UInt64? {
        let limits = processes.map(\.policy.maxMemory)
        guard !limits.isEmpty, limits.allSatisfy({ $0 != nil }) else { return nil }
        let bytes = pipeline ? limits.compactMap { $0 }.reduce(0, +) : limits.compactMap { $0 }.max() ?? 0
        return (bytes + (1 << 20) - 1) / (1 << 20) + 256
    }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private static func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }

    /// Single-quoted for sh.
    static func quoted(_ word: String) -> String {
        "'" + word.replacing("'", with: "'\\''") + "'"
    }
}
