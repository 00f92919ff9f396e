import FoundationEssentials
import SandlockSystem

/// Slurm's command-line clients (`sbatch`, `scontrol`, `scancel`, `squeue`), run on the
/// submitting machine; every failure is a `SlurmError` that quotes what Slurm said.
struct SlurmClient: Sendable {
    /// A job's state as `squeue --json` reports it (an array's pending elements share one entry).
    struct JobState: Sendable, Decodable {
        var jobID: Int
        var arrayJobID: Int?
        var state: String
        var reason: String?

        enum CodingKeys: String, CodingKey {
            case jobID = "job_id", arrayJobID = "array_job_id", state = "job_state", reason = "state_reason"
        }

        /// Still to run or running: not one of Slurm's end states.
        var isActive: Bool { !Self.endStates.contains(state) }

        static let endStates: Set<String> = [
            "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL",
            "DEADLINE", "PREEMPTED", "SPECIAL_EXIT", "REVOKED",
        ]
    }

    private struct Queue: Decodable {
        var jobs: [JobState]
    }

    /// Fails when `sbatch` is not in PATH or the controller does not answer, naming which.
    static func checkReachable() throws(SlurmError) {
        let output = try run(["sinfo", "-h", "-o", "%T"], doing: "ask the Slurm controller for its nodes")
        guard output.status == 0 else { throw .unreachable(output.stderrText) }
    }

    /// `sbatch --parsable SCRIPT`: the job id.
    static func submit(_ script: String) throws(SlurmError) -> String {
        let output = try run(["sbatch", "--parsable", script], doing: "submit \(script)")
        let id = output.stdoutText.split(separator: ";").first.map { String($0).filter { !$0.isWhitespace } } ?? ""
        guard output.status == 0, !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw .rejected(script: script, message: output.stderrText.isEmpty ? "sbatch exited \(output.status)" : output.stderrText)
        }
        return id
    }

    /// `sbatch --test-only SCRIPT`: Slurm's verdict on a script without submitting it.
    static func test(_ script: String) throws(SlurmError) -> String {
        let output = try run(["sbatch", "--test-only", script], doing: "test \(script)")
        guard output.status == 0 else { throw .rejected(script: script, message: output.stderrText) }
        return output.stderrText
    }

    /// `scontrol release`: the held roots may start.
    static func release(_ ids: [String]) throws(SlurmError) {
        guard !ids.isEmpty else { return }
        let output = try run(["scontrol", "release", ids.joined(separator: ",")], doing: "release the held jobs")
        guard output.status == 0 else { throw .command("scontrol release \(ids.joined(separator: ","))", output.stderrText) }
    }

    /// Cancels every job given (arrays with all their elements): the pending ones at once,
    /// then SIGTERM to the running ones' `sandlock-jobs exec` only (`--batch`), which stops
    /// its sandboxes and records the stage as cancelled before it exits. Jobs that already
    /// ended are no error.
    static func cancel(_ ids: [String]) throws(SlurmError) {
        guard !ids.isEmpty else { return }
        try scancel(["--state=PENDING"] + ids)
        try scancel(["--batch", "--signal=TERM"] + ids)
    }

    /// `scancel` of every job given, whatever it is doing: what a cancelled run still has
    /// queued or running once its jobs had their chance to stop.
    static func kill(_ ids: [String]) throws(SlurmError) {
        guard !ids.isEmpty else { return }
        try scancel(ids)
    }

    private static func scancel(_ arguments: [String]) throws(SlurmError) {
        let output = try run(["scancel"] + arguments, doing: "cancel the run's jobs")
        let harmless = ["already completing or completed", "Invalid job id", "is pending execution", "Job/step already completing"]
        let ended = output.stderrText.split(separator: "\n").allSatisfy { line in harmless.contains { line.contains($0) } }
        guard output.status == 0 || ended else { throw .command("scancel \(arguments.joined(separator: " "))", output.stderrText) }
    }

    /// The states of the caller's jobs Slurm still knows (`--me`: a cluster's whole queue can
    /// be large), by job id and array id; jobs it purged (`MinJobAge` after their end) are
    /// missing.
    static func states() throws(SlurmError) -> [JobState] {
        let output = try run(["squeue", "--json", "--me"], doing: "read the queue")
        // Slurm before 21.08 has no --json.
        if output.status != 0, output.stderrText.contains("unrecognized option") { return try listedStates() }
        guard output.status == 0 else { throw .unreachable(output.stderrText) }
        do {
            return try JSONDecoder().decode(Queue.self, from: Data(output.stdout)).jobs
        } catch {
            throw .command("squeue --json", "unexpected output: \(error)")
        }
    }

    /// The same from squeue's text format (job id, array id, state, reason), which every
    /// Slurm has.
    static func listedStates() throws(SlurmError) -> [JobState] {
        let output = try run(["squeue", "-h", "--me", "-t", "all", "-o", "%A|%F|%T|%r"], doing: "read the queue")
        guard output.status == 0 else { throw .unreachable(output.stderrText) }
        return output.stdoutText.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4, let id = Int(fields[0]) else { return nil }
            return JobState(jobID: id, arrayJobID: Int(fields[1]), state: fields[2], reason: fields[3])
        }
    }

    private static func run(_ argv: [String], doing what: String) throws(SlurmError) -> HostCommand.Output {
        do { return try HostCommand.run(argv) } catch {
            if error == .ENOENT { throw .missing(argv[0]) }
            throw .command(argv.joined(separator: " "), "cannot \(what): \(error)")
        }
    }
}

/// Why a run on Slurm could not be submitted or followed.
public enum SlurmError: Error, Sendable, CustomStringConvertible {
    /// A client program is not in PATH.
    case missing(String)
    /// The controller did not answer (what the client said).
    case unreachable(String)
    /// sbatch refused a script (its message).
    case rejected(script: String, message: String)
    /// Another client call failed.
    case command(String, String)
    /// Something in the plan Slurm cannot run as asked (with what to do instead).
    case unsupported(String)
    /// The run directory or the workdir is where other nodes cannot see it.
    case notShared(String)

    public var description: String {
        switch self {
        case .missing(let program):
            "'\(program)' is not in PATH: --executor slurm needs Slurm's clients (apt-get install slurm-client, or load your cluster's slurm module); Scripts/slurm-setup.sh starts a single-node Slurm"
        case .unreachable(let said):
            "the Slurm controller does not answer: \(said.isEmpty ? "no reason given" : said) (is slurmctld running? `sinfo` must list a node)"
        case .rejected(let script, let message):
            "sbatch rejected \(script): \(message)"
        case .command(let command, let said):
            "\(command) failed: \(said)"
        case .unsupported(let what):
            what
        case .notShared(let what):
            what
        }
    }
}
