import SandlockCore

/// The flags of `sandlock run`, parsed by a small table-driven parser.
///
/// Why not ArgumentParser here: its reflection-based parsing costs ~2 ms per start on this
/// machine, more than the rest of a sandbox start-up. `RunCommand` still declares every flag
/// for `--help`; a test keeps both lists identical.
struct RunArguments {
    var policy = Policy()
    var execShell: String?
    var interactive = false
    /// `--dry-run`: run over a workspace, report the changes on stderr, then abort it.
    var dryRun = false
    var command: [String] = []

    struct UsageError: Error, CustomStringConvertible {
        var description: String
    }

    private enum Kind: Sendable {
        case flag(@Sendable (inout RunArguments) -> Void)
        case option(@Sendable (inout RunArguments, String) throws(UsageError) -> Void)
    }

    private struct Spec: Sendable {
        var names: [String]
        var kind: Kind
    }

    /// Every flag: the names as typed on the command line, and what each does to the policy.
    private static let specs: [Spec] = [
        Spec(names: ["-r", "--fs-read"], kind: .option { $0.policy.fsReadable.append($1) }),
        Spec(names: ["-w", "--fs-write"], kind: .option { $0.policy.fsWritable.append($1) }),
        Spec(names: ["--fs-deny"], kind: .option { $0.policy.fsDenied.append($1) }),
        Spec(names: ["--workdir"], kind: .option { $0.policy.workdir = $1 }),
        Spec(names: ["--fs-storage"], kind: .option { $0.policy.fsStorage = $1 }),
        Spec(names: ["--on-exit"], kind: .option { arguments, value throws(UsageError) in
            arguments.policy.onExit = try disposition(value, "--on-exit")
        }),
        Spec(names: ["--on-error"], kind: .option { arguments, value throws(UsageError) in
            arguments.policy.onError = try disposition(value, "--on-error")
        }),
        Spec(names: ["--dry-run"], kind: .flag { $0.dryRun = true }),
        Spec(names: ["--net-bind", "--net-allow-bind"], kind: .option { arguments, value throws(UsageError) in
            guard let ports = Units.parsePorts(value) else {
                throw UsageError(description: "--net-bind: expected ports like 8080 or 8080,9000-9005, found '\(value)'")
            }
            arguments.policy.netBind += ports
        }),
        Spec(names: ["--net-allow"], kind: .option { $0.policy.netAllow.append($1) }),
        Spec(names: ["--allow-udp"], kind: .flag { $0.policy.allowUDP = true }),
        Spec(names: ["--allow-icmp"], kind: .flag { $0.policy.allowICMP = true }),
        Spec(names: ["--port-remap"], kind: .flag { $0.policy.portRemap = true }),
        Spec(names: ["--extra-deny-syscall"], kind: .option { $0.policy.extraDenySyscalls.append($1) }),
        Spec(names: ["--extra-allow-syscall"], kind: .option { $0.policy.extraAllowSyscalls.append($1) }),
        Spec(names: ["-t", "--timeout"], kind: .option { arguments, value throws(UsageError) in
            guard let duration = Units.parseDuration(value), duration > .zero else {
                throw UsageError(description: "--timeout: expected a duration like 30, 30s, 5m or 500ms, found '\(value)'")
            }
            arguments.policy.timeout = duration
        }),
        Spec(names: ["-m", "--max-memory"], kind: .option { arguments, value throws(UsageError) in
            guard let bytes = Units.parseSize(value), bytes > 0 else {
                throw UsageError(description: "--max-memory: expected a size like 512M or 1G, found '\(value)'")
            }
            arguments.policy.maxMemory = bytes
        }),
        Spec(names: ["-P", "--max-processes"], kind: .option { arguments, value throws(UsageError) in
            arguments.policy.maxProcesses = try positive(value, "--max-processes")
        }),
        Spec(names: ["--max-open-files"], kind: .option { arguments, value throws(UsageError) in
            arguments.policy.maxOpenFiles = try positive(value, "--max-open-files")
        }),
        Spec(names: ["-c", "--cpu"], kind: .option { arguments, value throws(UsageError) in
            guard let percent = Int(value), (1...100).contains(percent) else {
                throw UsageError(description: "--cpu: expected a percentage from 1 to 100, found '\(value)'")
            }
            arguments.policy.maxCPU = percent
        }),
        Spec(names: ["--cpu-cores"], kind: .option { arguments, value throws(UsageError) in
            let cores = value.split(separator: ",").map { Int($0) }
            guard !cores.isEmpty, cores.allSatisfy({ ($0 ?? -1) >= 0 }) else {
                throw UsageError(description: "--cpu-cores: expected a list like 0,2,3, found '\(value)'")
            }
            arguments.policy.cpuCores = cores.compactMap { $0 }
        }),
        Spec(names: ["--num-cpus"], kind: .option { arguments, value throws(UsageError) in
            arguments.policy.numCPUs = try positive(value, "--num-cpus")
        }),
        Spec(names: ["--time-start"], kind: .option { arguments, value throws(UsageError) in
            guard let seconds = Units.parseTimestamp(value) else {
                throw UsageError(description: "--time-start: expected an RFC 3339 time like 2000-01-01T00:00:00Z, found '\(value)'")
            }
            arguments.policy.timeStart = seconds
        }),
        Spec(names: ["--random-seed"], kind: .option { arguments, value throws(UsageError) in
            guard let seed = UInt64(value) else {
                throw UsageError(description: "--random-seed: expected a non-negative integer, found '\(value)'")
            }
            arguments.policy.randomSeed = seed
        }),
        Spec(names: ["--deterministic-dirs"], kind: .flag { $0.policy.deterministicDirs = true }),
        Spec(names: ["--no-randomize-memory"], kind: .flag { $0.policy.noRandomizeMemory = true }),
        Spec(names: ["--no-huge-pages"], kind: .flag { $0.policy.noHugePages = true }),
        Spec(names: ["--no-coredump"], kind: .flag { $0.policy.noCoredump = true }),
        Spec(names: ["--clean-env"], kind: .flag { $0.policy.cleanEnv = true }),
        Spec(names: ["--env"], kind: .option { arguments, value throws(UsageError) in
            guard let equals = value.firstIndex(of: "="), equals != value.startIndex else {
                throw UsageError(description: "--env: expected KEY=VALUE, found '\(value)'")
            }
            arguments.policy.env[String(value[..<equals])] = String(value[value.index(after: equals)...])
        }),
        Spec(names: ["--cwd"], kind: .option { $0.policy.cwd = $1 }),
        Spec(names: ["--name"], kind: .option { $0.policy.name = $1 }),
        Spec(names: ["--no-supervisor"], kind: .flag { $0.policy.noSupervisor = true }),
        Spec(names: ["--allow-degraded"], kind: .flag { $0.policy.allowDegraded = true }),
        Spec(names: ["-e", "--exec-shell"], kind: .option { $0.execShell = $1 }),
        Spec(names: ["-i", "--interactive"], kind: .flag { $0.interactive = true }),
    ]

    /// Every flag name, for the test that compares them with `RunCommand`'s.
    static var flagNames: Set<String> { Set(specs.flatMap(\.names)) }

    private static func disposition(_ value: String, _ flag: String) throws(UsageError) -> Disposition {
        guard let disposition = Disposition(rawValue: value) else {
            throw UsageError(description: "\(flag): expected commit, abort or keep, found '\(value)'")
        }
        return disposition
    }

    private static func positive(_ value: String, _ flag: String) throws(UsageError) -> Int {
        guard let number = Int(value), number > 0 else {
            throw UsageError(description: "\(flag): expected a positive number, found '\(value)'")
        }
        return number
    }

    /// Parses the arguments after `run`: options, then the command (after `--`, or from the
    /// first argument that is not an option).
    init(parsing arguments: [String]) throws(UsageError) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" { break }
            guard argument.hasPrefix("-"), argument.count > 1 else {
                index -= 1
                break
            }
            var name = argument
            var inlineValue: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            } else if !argument.hasPrefix("--"), argument.count > 2 {
                name = String(argument.prefix(2)) // -rPATH
                inlineValue = String(argument.dropFirst(2))
            }
            // A linear search over ~35 specs costs less than building a dictionary at start-up.
            guard let spec = Self.specs.first(where: { $0.names.contains(name) }) else {
                throw UsageError(description: "unknown option '\(argument)'")
            }
            switch spec.kind {
            case .flag(let apply):
                if inlineValue != nil { throw UsageError(description: "\(name) takes no value") }
                apply(&self)
            case .option(let apply):
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else {
                    guard index < arguments.count else { throw UsageError(description: "\(name) needs a value") }
                    value = arguments[index]
                    index += 1
                }
                try apply(&self, value)
            }
        }
        command = Array(arguments[index...])
        if execShell != nil && !command.isEmpty {
            throw UsageError(description: "give either -e CMD or a command after --, not both")
        }
        if let execShell { command = ["/bin/sh", "-c", execShell] }
        if command.isEmpty {
            throw UsageError(description: "no command: give one after -- (or use -e 'command line')")
        }
        if dryRun && policy.workdir == nil {
            throw UsageError(description: "--dry-run needs --workdir")
        }
    }
}
