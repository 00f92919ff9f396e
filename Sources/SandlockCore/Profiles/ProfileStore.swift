#if canImport(Glibc)
import Glibc
#endif

/// The profiles directory: `$XDG_CONFIG_HOME/sandlock/profiles/`, else
/// `~/.config/sandlock/profiles/`, one `NAME.toml` a profile.
public struct ProfileStore: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// The caller's store, from its environment.
    public static func user(environment: [String: String] = Environment.inherited()) -> ProfileStore {
        if let config = environment["XDG_CONFIG_HOME"], config.hasPrefix("/") {
            return ProfileStore(directory: config + "/sandlock/profiles")
        }
        return ProfileStore(directory: (environment["HOME"] ?? "/") + "/.config/sandlock/profiles")
    }

    /// A profile's name is a file name of the store, nothing that leads out of it.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0))
        }
    }

    public func path(of name: String) throws(ProfileError) -> String {
        guard Self.isValidName(name) else {
            throw ProfileError(path: name, message: "not a profile name: letters, digits, '.', '_' and '-' only, not starting with '.'")
        }
        return directory + "/" + name + ".toml"
    }

    /// The names of the profiles, sorted (none when the directory does not exist).
    public func names() -> [String] {
        let files = (try? Directory.entries(atPath: directory, names: .lossy)) ?? []
        return files.filter { $0.hasSuffix(".toml") }.map { String($0.dropLast(5)) }.filter(Self.isValidName)
    }

    public func load(_ name: String) throws(ProfileError) -> Profile {
        let path = try path(of: name)
        guard Files.statusFollowingLinks(path) != nil else {
            let near = closestMatch(to: name, in: names())
            throw ProfileError(path: path, message: "no profile '\(name)' in \(directory)"
                               + (near.map { " (did you mean '\($0)'?)" } ?? " (see `sandlock profile list`)"))
        }
        return try Profile.load(path: path)
    }

    public func delete(_ name: String) throws(ProfileError) {
        let path = try path(of: name)
        guard unlink(path) == 0 else {
            throw ProfileError(path: path, message: errno == ENOENT ? "no profile '\(name)' in \(directory)" : "cannot delete: \(Errno.current)")
        }
    }
}
