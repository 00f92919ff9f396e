#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SandlockCore

/// `sandlock run`. Its flags are parsed by `RunArguments` from `Policy.fields`; this type is
/// the command's entry in ArgumentParser's tree (for `sandlock help run`), with the help text
/// generated from the same table.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command in a sandbox.",
        usage: "sandlock run [flags] -- COMMAND [ARG…]",
        discussion: RunArguments.overview + "\n" + RunArguments.flagHelp
    )

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("Flags, then the command and its arguments after --.", valueName: "ARGUMENTS"))
    var arguments: [String] = []

    /// Only reached through ArgumentParser (the entry point normally parses `run` itself).
    func run() throws {
        throw ExitCode(RunCommand.execute(arguments))
    }

    /// Parses the arguments after `run`, runs the sandbox and returns the exit status.
    static func execute(_ arguments: [String]) -> Int32 {
        let parsed: RunArguments
        do {
            parsed = try RunArguments(parsing: arguments)
        } catch {
            printError("sandlock: \(error)")
            printError("Usage: sandlock run [flags] -- COMMAND [ARG…]   (see sandlock run --help)")
            return 125
        }
        // The table's ranges and rules, before anything starts (the engine checks them again).
        do throws(SandboxError) {
            try parsed.policy.validate()
        } catch {
            printError("sandlock: \(error)")
            return 125
        }
        let io = parsed.interactive
            ? StandardIO(stdin: .inherit, stdout: .inherit, stderr: .inherit, interactive: true)
            : .inherited
        let process: SandboxProcess
        do {
            process = try Sandbox(policy: parsed.policy).spawn(parsed.command, io: io, workspace: parsed.dryRun ? .dryRun : .policy)
        } catch {
            printError("sandlock: \(error)" + (error.directoryToGrant.map { " (add -r \($0))" } ?? ""))
            return 125
        }
        let forwarder = SignalForwarder.shared
        forwarder.forward(to: process)
        let result = process.waitBlocking()
        if !result.deniedConnections.isEmpty {
            let list = result.deniedConnections.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value)x)" }
            printError("sandlock: denied connections: " + list.joined(separator: ", "))
        }
        if !result.deniedRequests.isEmpty {
            let list = result.deniedRequests.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value)x)" }
            printError("sandlock: denied HTTP requests: " + list.joined(separator: ", "))
        }
        for gap in result.enforcement.notEnforced {
            printError("sandlock: warning: not enforced: \(gap.feature) (\(gap.reason))")
        }
        if let workspace = result.workspace {
            report(workspace, dryRun: parsed.dryRun)
            // Changes that could not be read or applied are never dropped quietly: the
            // workspace is kept (status "failed") and the run fails as sandlock's own error.
            if case .failed = workspace.outcome { return 125 }
        }
        switch result.reason {
        case .timeout:
            printError("sandlock: timeout after \(format(parsed.policy.timeout ?? .zero)): killed the sandbox")
            return 124
        case .memoryLimit:
            let limit = parsed.policy.maxMemory ?? 0, peak = result.peakSandboxMemory ?? 0
            printError("sandlock: memory limit: the sandbox reached \(peak >> 20) MiB of its \(limit >> 20) MiB (max_memory): killed the sandbox")
            return 128 + SIGKILL
        case .killed:
            return 128 + (forwarder.signal ?? SIGKILL)
        case .exited, .signaled:
            if result.leftoverProcessesKilled > 0 {
                printError("sandlock: killed \(result.leftoverProcessesKilled) background process(es) left by the command")
            }
            return result.shellStatus
        }
    }

    /// The dry run's change lines, and what happened to a workspace unless it went as asked.
    static func report(_ workspace: WorkspaceResult, dryRun: Bool) {
        if dryRun {
            let changes = workspace.changes?.changes ?? []
            printError(changes.isEmpty ? "sandlock: dry-run: no filesystem changes" : "sandlock: dry-run: filesystem changes:")
            for change in changes { printError("  \(change.summaryLine)") }
        }
        switch workspace.outcome {
        case .committed, .aborted: break
        case .kept:
            printError("sandlock: workspace kept in \(workspace.workspace.directory)")
        case .conflict(let conflicts):
            printError("sandlock: commit refused: \(conflicts.count) path(s) changed in the real tree during the run; workspace kept in \(workspace.workspace.directory)")
            for conflict in conflicts {
                printError("  C \(conflict.path) (\(conflict.reason)): real tree \(conflict.current?.summary ?? "absent"), sandbox \(conflict.sandbox?.summary ?? "absent")")
            }
        case .failed(let message):
            printError("sandlock: workspace: \(message); kept in \(workspace.workspace.directory)")
        }
    }

    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = attoseconds / 1_000_000_000_000_000
        return milliseconds == 0 ? "\(seconds)s" : "\(seconds).\(String(milliseconds + 1000).dropFirst())s"
    }
}
