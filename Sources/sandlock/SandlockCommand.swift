#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SandlockCore

struct SandlockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandlock",
        abstract: "Run a command confined by Landlock and seccomp, without root or containers.",
        discussion: """
            Exit status of `run`: the command's own; 128+N when it was killed by signal N; \
            124 on timeout; 125 when the sandbox could not be set up (bad flags included).
            """,
        version: SandlockVersion.current,
        subcommands: [RunCommand.self, CheckCommand.self, PsCommand.self, KillCommand.self, InspectCommand.self, ProfileCommand.self]
    )
}

/// Entry point. `sandlock run` is parsed by `RunArguments` and waits synchronously, so a
/// sandboxed command pays for neither ArgumentParser's reflection nor the concurrency
/// runtime's threads, and prints its own `--help` (from `Policy.fields`); the other
/// subcommands go through ArgumentParser.
/// SIGINT/SIGTERM/SIGHUP are blocked before any thread exists so the sandbox can be killed
/// on them. Setup failures exit 125, like `docker run`, so they never look like the
/// command's own status.
@main
enum SandlockMain {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "run" {
            let options = arguments.dropFirst().prefix { $0 != "--" }
            if options.contains(where: { $0 == "-h" || $0 == "--help" }) {
                print(RunArguments.help, terminator: "")
                exit(0)
            }
            _ = SignalForwarder.shared
            exit(RunCommand.execute(Array(arguments.dropFirst())))
        }
        SandlockCommand.main(arguments)
    }
}

func printError(_ message: String) {
    try? StandardStream.error.writeAll(message + "\n")
}
