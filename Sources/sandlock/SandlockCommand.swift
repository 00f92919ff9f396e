#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

struct SandlockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandlock",
        abstract: "Run a command confined by Landlock and seccomp, without root or containers.",
        discussion: """
            Exit status of `run`: the command's own; 128+N when it was killed by signal N; \
            124 on timeout; 125 when the sandbox could not be set up (bad flags included).
            """,
        subcommands: [RunCommand.self, CheckCommand.self]
    )
}

/// Entry point: `run` blocks SIGINT/SIGTERM/SIGHUP before any thread exists (so the
/// sandbox can be killed on them), and reports its own failures with status 125, like
/// `docker run`, so they never look like the command's exit code.
@main
enum SandlockMain {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let isRun = arguments.first == "run"
        if isRun { _ = SignalForwarder.shared }
        do {
            var command = try SandlockCommand.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if isRun, SandlockCommand.exitCode(for: error) == .validationFailure {
                printError("sandlock: " + SandlockCommand.message(for: error))
                printError("Usage: sandlock run [flags] -- COMMAND [ARG…]   (see sandlock run --help)")
                exit(125)
            }
            SandlockCommand.exit(withError: error)
        }
    }
}

func printError(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}
