#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SandlockCore

struct RunCommand: AsyncParsableCommand {
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

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The command and its arguments, after --.", valueName: "COMMAND"))
    var command: [String] = []

    func validate() throws {
        // Passthrough parsing would take an unknown flag for the command.
        if let first = command.first, first != "--", first.hasPrefix("-") {
            throw ValidationError("unknown option '\(first)'")
        }
        if execShell != nil && !trimmedCommand.isEmpty {
            throw ValidationError("give either -e CMD or a command after --, not both")
        }
        if execShell == nil && trimmedCommand.isEmpty {
            throw ValidationError("no command: give one after -- (or use -e 'command line')")
        }
    }

    private var trimmedCommand: [String] {
        command.first == "--" ? Array(command.dropFirst()) : command
    }

    func makePolicy() throws -> Policy {
        var policy = Policy()
        policy.fsReadable = fsRead
        policy.fsWritable = fsWrite
        policy.fsDenied = fsDeny
        policy.netBind = try netBind.flatMap { spec -> [UInt16] in
            guard let ports = Units.parsePorts(spec) else {
                throw ValidationError("--net-bind: expected ports like 8080 or 8080,9000-9005, found '\(spec)'")
            }
            return ports
        }
        policy.netAllow = netAllow
        policy.allowUDP = allowUDP
        policy.allowICMP = allowICMP
        policy.portRemap = portRemap
        policy.extraDenySyscalls = extraDenySyscall
        policy.extraAllowSyscalls = extraAllowSyscall
        if let timeout {
            guard let duration = Units.parseDuration(timeout), duration > .zero else {
                throw ValidationError("--timeout: expected a duration like 30, 30s, 5m or 500ms, found '\(timeout)'")
            }
            policy.timeout = duration
        }
        if let maxMemory {
            guard let bytes = Units.parseSize(maxMemory), bytes > 0 else {
                throw ValidationError("--max-memory: expected a size like 512M or 1G, found '\(maxMemory)'")
            }
            policy.maxMemory = bytes
        }
        policy.maxProcesses = maxProcesses
        if let maxOpenFiles, maxOpenFiles <= 0 {
            throw ValidationError("--max-open-files: expected a positive number, found \(maxOpenFiles)")
        }
        policy.maxOpenFiles = maxOpenFiles
        if let cpu, !(1...100).contains(cpu) {
            throw ValidationError("--cpu: expected a percentage from 1 to 100, found \(cpu)")
        }
        policy.maxCPU = cpu
        if let cpuCores {
            let cores = cpuCores.split(separator: ",").map { Int($0) }
            guard !cores.isEmpty, cores.allSatisfy({ ($0 ?? -1) >= 0 }) else {
                throw ValidationError("--cpu-cores: expected a list like 0,2,3, found '\(cpuCores)'")
            }
            policy.cpuCores = cores.compactMap { $0 }
        }
        policy.numCPUs = numCPUs
        if let timeStart {
            guard let seconds = Units.parseTimestamp(timeStart) else {
                throw ValidationError("--time-start: expected an RFC 3339 time like 2000-01-01T00:00:00Z, found '\(timeStart)'")
            }
            policy.timeStart = seconds
        }
        policy.randomSeed = randomSeed
        policy.deterministicDirs = deterministicDirs
        policy.noRandomizeMemory = noRandomizeMemory
        policy.noHugePages = noHugePages
        policy.noCoredump = noCoredump
        policy.cleanEnv = cleanEnv
        for assignment in env {
            guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                throw ValidationError("--env: expected KEY=VALUE, found '\(assignment)'")
            }
            policy.env[String(assignment[..<equals])] = String(assignment[assignment.index(after: equals)...])
        }
        policy.cwd = cwd
        policy.name = name
        policy.noSupervisor = noSupervisor
        policy.allowDegraded = allowDegraded
        return policy
    }

    func run() async throws {
        let policy = try makePolicy()
        let argv = execShell.map { ["/bin/sh", "-c", $0] } ?? trimmedCommand
        let io = interactive
            ? StandardIO(stdin: .inherit, stdout: .inherit, stderr: .inherit, interactive: true)
            : .inherited
        let process: SandboxProcess
        do {
            process = try Sandbox(policy: policy).spawn(argv, io: io)
        } catch {
            printError("sandlock: \(error)")
            throw ExitCode(125)
        }
        let forwarder = SignalForwarder.shared
        forwarder.forward(to: process)
        let result = await process.wait()
        for gap in result.enforcement.notEnforced {
            printError("sandlock: warning: not enforced: \(gap.feature) (\(gap.reason))")
        }
        switch result.reason {
        case .timeout:
            printError("sandlock: timeout after \(Self.format(policy.timeout ?? .zero)): killed the sandbox")
            throw ExitCode(124)
        case .killed:
            throw ExitCode(128 + (forwarder.signal ?? SIGKILL))
        case .exited, .signaled:
            if result.leftoverProcessesKilled > 0 {
                printError("sandlock: killed \(result.leftoverProcessesKilled) background process(es) left by the command")
            }
            throw ExitCode(result.shellStatus)
        }
    }

    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = attoseconds / 1_000_000_000_000_000
        return milliseconds == 0 ? "\(seconds)s" : "\(seconds).\(String(milliseconds + 1000).dropFirst())s"
    }
}
