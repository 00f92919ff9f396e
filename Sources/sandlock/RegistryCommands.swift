#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import FoundationEssentials
import SandlockCore

struct PsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps",
        abstract: "List the running named sandboxes of this user (started with --name).")

    func run() throws {
        let entries = try SandboxRegistry.user().entries()
        guard !entries.isEmpty else {
            print("No running sandboxes.")
            return
        }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let rows = entries.map { entry in
            [entry.name, String(entry.pid), Self.uptime(Int64(now.tv_sec) - entry.startedAt),
             entry.ports.isEmpty ? "-" : entry.ports.map { port in
                 entry.remapped[port].map { "\(port)->\($0)" } ?? String(port)
             }.joined(separator: ","),
             entry.command.joined(separator: " ")]
        }
        let header = ["NAME", "PID", "UPTIME", "PORTS", "CMD"]
        let widths = (0..<4).map { column in ([header] + rows).map { $0[column].count }.max()! }
        for row in [header] + rows {
            print((0..<4).map { row[$0].padding(to: widths[$0] + 1) }.joined() + row[4])
        }
    }

    static func uptime(_ seconds: Int64) -> String {
        seconds < 60 ? "\(seconds)s" : seconds < 3600 ? "\(seconds / 60)m\(seconds % 60)s" : "\(seconds / 3600)h\(seconds % 3600 / 60)m"
    }
}

struct KillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill",
        abstract: "End a named sandbox and every process in it.")

    @Argument(help: "The sandbox's name, as `sandlock ps` shows it.")
    var name: String

    func run() throws {
        do {
            let entry = try SandboxRegistry.user().terminate(name)
            print("Killed sandbox '\(entry.name)' (pid \(entry.pid))")
        } catch {
            printError("sandlock: \(error)")
            throw ExitCode(1)
        }
    }
}

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a named sandbox's effective policy as JSON (or as a profile, --toml).")

    @Argument(help: "The sandbox's name, as `sandlock ps` shows it.")
    var name: String

    @Flag(help: "Print the policy as a profile (TOML), to save under ~/.config/sandlock/profiles/.")
    var toml = false

    func run() throws {
        guard let entry = try SandboxRegistry.user().entry(named: name) else {
            printError("sandlock: no running sandbox named '\(name)' (see `sandlock ps`)")
            throw ExitCode(1)
        }
        if toml {
            print(Profile.toml(of: entry.policy), terminator: "")
        } else {
            print(try prettyJSON(entry))
        }
    }
}

/// Sorted, indented JSON: `inspect` and `profile show --json`.
func prettyJSON(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
