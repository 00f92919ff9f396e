#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SandlockCore

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command in a sandbox.",
        discussion: """
            Nothing is readable unless granted: give the trees the command needs with -r.
              sandlock run -r /usr -r /lib -r /lib64 -r /bin -r /etc -w /tmp -- ls /tmp
              sandlock run -r /usr -r /lib -r /lib64 -r /bin -t 30 -e 'make -j2'
              sandlock run -i -r /usr -r /lib -r /lib64 -r /bin -r /etc -w /tmp -- /bin/sh
            /dev/null, /dev/zero, /dev/full, /dev/random and /dev/urandom are always usable.
            Exit status: the command's; 128+N if killed by signal N; 124 on timeout; 125 if \
            the sandbox could not be set up.
            """
    )

    // Filesystem
    @Option(name: [.customShort("r"), .customLong("fs-read")], help: ArgumentHelp("Grant read and execute access to a tree (repeatable).", valueName: "PATH"))
    var fsRead: [String] = []
    @Option(name: [.customShort("w"), .customLong("fs-write")], help: ArgumentHelp("Grant read and write access to a tree (repeatable).", valueName: "PATH"))
    var fsWrite: [String] = []
    @Option(name: .customLong("fs-deny"), help: ArgumentHelp("Deny a path inside a granted tree (repeatable).", valueName: "PATH"))
    var fsDeny: [String] = []

    // Copy-on-write
    @Option(name: .customLong("workdir"), help: ArgumentHelp("Copy-on-write root: writes under it go to a workspace until committed (also the default cwd; still needs -w).", valueName: "PATH"))
    var workdir: String?
    @Option(name: .customLong("fs-storage"), help: ArgumentHelp("Where workspaces live (default $XDG_RUNTIME_DIR/sandlock-cow or /tmp/sandlock-cow-UID).", valueName: "PATH"))
    var fsStorage: String?
    @Option(name: .customLong("on-exit"), help: ArgumentHelp("Workspace action when the command exits 0: commit, abort or keep (default commit).", valueName: "ACTION"))
    var onExit: String?
    @Option(name: .customLong("on-error"), help: ArgumentHelp("Workspace action otherwise (non-zero exit, signal, timeout, limit): commit, abort or keep (default abort).", valueName: "ACTION"))
    var onError: String?
    @Flag(name: .customLong("dry-run"), help: "Print the changes (A/M/D/R lines) to stderr, then abort them (needs --workdir).")
    var dryRun = false

    // Network
    @Option(name: [.customLong("net-bind"), .customLong("net-allow-bind")], help: ArgumentHelp("TCP ports the command may bind: 8080 or 8080,9000-9005 (repeatable).", valueName: "PORTS"))
    var netBind: [String] = []
    @Option(name: .customLong("net-allow"), help: ArgumentHelp("Outbound endpoint host:port[,port] or :port (repeatable).", valueName: "SPEC"))
    var netAllow: [String] = []
    @Flag(name: .customLong("allow-udp"), help: "Allow UDP sockets.")
    var allowUDP = false
    @Flag(name: .customLong("allow-icmp"), help: "Allow ICMP datagram (ping) sockets.")
    var allowICMP = false
    @Flag(name: .customLong("port-remap"), help: "Give the sandbox a virtual port space.")
    var portRemap = false

    // Syscalls
    @Option(name: .customLong("extra-deny-syscall"), help: ArgumentHelp("Deny another syscall or group (repeatable).", valueName: "NAME"))
    var extraDenySyscall: [String] = []
    @Option(name: .customLong("extra-allow-syscall"), help: ArgumentHelp("Re-allow a group: sysv_ipc (repeatable).", valueName: "GROUP"))
    var extraAllowSyscall: [String] = []

    // Resources
    @Option(name: [.customShort("t"), .customLong("timeout")], help: ArgumentHelp("Kill the whole sandbox after this long: 30, 30s, 5m, 500ms.", valueName: "DURATION"))
    var timeout: String?
    @Option(name: [.customShort("m"), .customLong("max-memory")], help: ArgumentHelp("Memory limit: 512M, 1G.", valueName: "SIZE"))
    var maxMemory: String?
    @Option(name: [.customShort("P"), .customLong("max-processes")], help: ArgumentHelp("Concurrent process limit.", valueName: "N"))
    var maxProcesses: Int?
    @Option(name: .customLong("max-open-files"), help: ArgumentHelp("File descriptor limit (RLIMIT_NOFILE).", valueName: "N"))
    var maxOpenFiles: Int?
    @Option(name: [.customShort("c"), .customLong("cpu")], help: ArgumentHelp("CPU share in percent of one core (1-100).", valueName: "PERCENT"))
    var cpu: Int?
    @Option(name: .customLong("cpu-cores"), help: ArgumentHelp("CPU affinity: 0,2,3.", valueName: "LIST"))
    var cpuCores: String?
    @Option(name: .customLong("num-cpus"), help: ArgumentHelp("Number of CPUs the command sees.", valueName: "N"))
    var numCPUs: Int?

    // Determinism
    @Option(name: .customLong("time-start"), help: ArgumentHelp("Start the wall clock at this RFC 3339 time.", valueName: "TIME"))
    var timeStart: String?
    @Option(name: .customLong("random-seed"), help: ArgumentHelp("Seed getrandom and /dev/urandom.", valueName: "N"))
    var randomSeed: UInt64?
    @Flag(name: .customLong("deterministic-dirs"), help: "List directories in sorted order.")
    var deterministicDirs = false
    @Flag(name: .customLong("no-randomize-memory"), help: "Disable address space randomization.")
    var noRandomizeMemory = false
    @Flag(name: .customLong("no-huge-pages"), help: "Disable transparent huge pages.")
    var noHugePages = false
    @Flag(name: .customLong("no-coredump"), help: "Disable core dumps.")
    var noCoredump = false

    // Environment and process
    @Flag(name: .customLong("clean-env"), help: "Start from a minimal environment (PATH, HOME, LANG, TERM).")
    var cleanEnv = false
    @Option(name: .customLong("env"), help: ArgumentHelp("Set an environment variable (repeatable).", valueName: "KEY=VALUE"))
    var env: [String] = []
    @Option(name: .customLong("cwd"), help: ArgumentHelp("Working directory of the command.", valueName: "PATH"))
    var cwd: String?
    @Option(name: .customLong("name"), help: ArgumentHelp("Name of the sandbox.", valueName: "NAME"))
    var name: String?
    @Flag(name: .customLong("no-supervisor"), help: "Landlock and the deny-only filter, no supervisor (for nesting).")
    var noSupervisor = false
    @Flag(name: .customLong("allow-degraded"), help: "Run even if the kernel cannot enforce part of the policy.")
    var allowDegraded = false
    @Option(name: [.customShort("e"), .customLong("exec-shell")], help: ArgumentHelp("Run this command line with /bin/sh -c.", valueName: "CMD"))
    var execShell: String?
    @Flag(name: [.customShort("i"), .customLong("interactive")], help: "Give the command the terminal (for shells and editors).")
    var interactive = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command and its arguments, after --.", valueName: "COMMAND"))
    var command: [String] = []

    /// Only reached through ArgumentParser (the entry point normally parses `run` itself).
    func run() throws {
        let arguments = Array(CommandLine.arguments.drop { $0 != "run" }.dropFirst())
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
        let io = parsed.interactive
            ? StandardIO(stdin: .inherit, stdout: .inherit, stderr: .inherit, interactive: true)
            : .inherited
        let process: SandboxProcess
        do {
            process = try Sandbox(policy: parsed.policy).spawn(parsed.command, io: io, workspace: parsed.dryRun ? .dryRun : .policy)
        } catch {
            printError("sandlock: \(error)")
            return 125
        }
        let forwarder = SignalForwarder.shared
        forwarder.forward(to: process)
        let result = process.waitBlocking()
        if !result.deniedConnections.isEmpty {
            let list = result.deniedConnections.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value)x)" }
            printError("sandlock: denied connections: " + list.joined(separator: ", "))
        }
        for gap in result.enforcement.notEnforced {
            printError("sandlock: warning: not enforced: \(gap.feature) (\(gap.reason))")
        }
        if let workspace = result.workspace { report(workspace, dryRun: parsed.dryRun) }
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
