import ArgumentParser
import SandlockCore

/// `sandlock profile list|show|delete`: the saved policies of `sandlock run -p NAME`.
struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "List, show or delete saved policies (TOML files in ~/.config/sandlock/profiles/).",
        subcommands: [ListProfiles.self, ShowProfile.self, DeleteProfile.self]
    )

    struct ListProfiles: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Each profile: name, file and what it sets.")

        func run() throws {
            let store = ProfileStore.user()
            let names = store.names()
            if names.isEmpty {
                print("no profiles in \(store.directory)")
                return
            }
            var failed = false
            for name in names {
                do throws(ProfileError) {
                    let profile = try store.load(name)
                    print("\(name)\t\(profile.path)\t\(profile.summary)")
                } catch {
                    printError("sandlock: \(error)")
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }
    }

    struct ShowProfile: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "The profile's resolved policy, as TOML (or --json).")

        @Argument(help: "The profile's name.")
        var name: String

        @Flag(help: "Print the policy as JSON (sandlock inspect's format).")
        var json = false

        func run() throws {
            let profile: Profile
            do throws(ProfileError) {
                profile = try ProfileStore.user().load(name)
            } catch {
                printError("sandlock: \(error)")
                throw ExitCode(1)
            }
            if json {
                print(try prettyJSON(profile.policy))
            } else {
                print(Profile.toml(of: profile.policy), terminator: "")
            }
        }
    }

    struct DeleteProfile: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete", abstract: "Remove a profile's file.")

        @Argument(help: "The profile's name.")
        var name: String

        func run() throws {
            do throws(ProfileError) {
                try ProfileStore.user().delete(name)
                print("deleted profile '\(name)'")
            } catch {
                printError("sandlock: \(error)")
                throw ExitCode(1)
            }
        }
    }
}
