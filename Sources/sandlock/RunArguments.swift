import SandlockCore

/// The flags of `sandlock run`, parsed by a small table-driven parser.
///
/// Why not ArgumentParser here: its reflection-based parsing costs ~2 ms per start on this
/// machine, more than the rest of a sandbox start-up. The flags are `Policy.fields`' (plus
/// `extras`), and so is `sandlock run --help` (`RunArguments.help`).
struct RunArguments {
    var policy = Policy()
    var execShell: String?
    var interactive = false
    /// `--dry-run`: run over a workspace, report the changes on stderr, then abort it.
    var dryRun = false
    var command: [String] = []
    /// `-p NAME` / `--profile-file PATH`: the policy the flags start from (one at most).
    var profiles: [ProfileReference] = []

    enum ProfileReference {
        case named(String)
        case file(String)
    }

    struct UsageError: Error, CustomStringConvertible {
        var description: String
    }

    /// A flag of `sandlock run` that is not a policy field.
    struct Extra: Sendable {
        var names: [String]
        var section: PolicySection
        var valueName: String?
        var doc: String
        var apply: @Sendable (inout RunArguments, String) -> Void
    }

    /// `-e`, `-i`, `--dry-run`: everything else is a field of `Policy.fields`.
    static let extras: [Extra] = [
        Extra(names: ["--dry-run"], section: .workspace, doc: "Print the changes (A/M/D/R lines) to stderr, then abort them (needs --workdir).") {
            arguments, _ in arguments.dryRun = true
        },
        Extra(names: ["-e", "--exec-shell"], section: .process, valueName: "CMD", doc: "Run this command line with /bin/sh -c.") {
            $0.execShell = $1
        },
        Extra(names: ["-i", "--interactive"], section: .process, doc: "Give the command the terminal (for shells and editors).") {
            arguments, _ in arguments.interactive = true
        },
        Extra(names: ["-p", "--profile"], section: .process, valueName: "NAME",
              doc: "Start from the profile ~/.config/sandlock/profiles/NAME.toml; flags add to its lists and override its other fields, wherever they are given.") {
            $0.profiles.append(.named($1))
        },
        Extra(names: ["--profile-file"], section: .process, valueName: "PATH", doc: "Start from the profile in this TOML file (as -p).") {
            $0.profiles.append(.file($1))
        },
    ]

    /// Every flag name: the table's and the extras'.
    static var flagNames: Set<String> { Set(Policy.fields.flatMap(\.flags) + extras.flatMap(\.names)) }

    /// Parses the arguments after `run`: options, then the command (after `--`, or from the
    /// first argument that is not an option).
    init(parsing arguments: [String]) throws(UsageError) {
        var index = 0
        // Applied once the loop is done, on top of the profile if one is named anywhere.
        var given: [(field: PolicyField, flag: String, value: String?)] = []
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
            // A linear search over ~40 fields costs less than building a dictionary at start-up.
            func value() throws(UsageError) -> String {
                if let inlineValue { return inlineValue }
                guard index < arguments.count else { throw UsageError(description: "\(name) needs a value") }
                index += 1
                return arguments[index - 1]
            }
            if let field = Policy.fields.first(where: { $0.flags.contains(name) }) {
                let argument: String?
                if field.grammar.takesValue {
                    argument = try value()
                } else {
                    if inlineValue != nil { throw UsageError(description: "\(name) takes no value") }
                    argument = nil
                }
                given.append((field, name, argument))
            } else if let extra = Self.extras.first(where: { $0.names.contains(name) }) {
                if extra.valueName != nil {
                    extra.apply(&self, try value())
                } else {
                    if inlineValue != nil { throw UsageError(description: "\(name) takes no value") }
                    extra.apply(&self, "")
                }
            } else {
                throw UsageError(description: "unknown option '\(argument)'")
            }
        }
        command = Array(arguments[index...])
        guard profiles.count <= 1 else {
            throw UsageError(description: "give one profile (-p NAME or --profile-file PATH), not \(profiles.count)")
        }
        do throws(ProfileError) {
            switch profiles.first {
            case .named(let name): policy = try ProfileStore.user().load(name).policy
            case .file(let path): policy = try Profile.load(path: path).policy
            case nil: break
            }
        } catch {
            throw UsageError(description: "profile: \(error)")
        }
        for (field, flag, value) in given {
            do throws(PolicyViolation) {
                try field.apply(argument: value, to: &policy)
            } catch {
                throw UsageError(description: "\(field.flag ?? flag): \(error.message)")
            }
        }
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
