/// A saved policy: sandlock's profile format, a TOML file whose top-level keys are the
/// policy table's names (`fs_readable`, `max_memory = "512M"`, …) and whose `[env]` table
/// sets variables.
public struct Profile: Sendable {
    public let name: String
    public let path: String
    public let policy: Policy

    public init(name: String, path: String, policy: Policy) {
        self.name = name
        self.path = path
        self.policy = policy
    }

    /// Reads and parses the profile at `path`, named after its file.
    public static func load(path: String) throws(ProfileError) -> Profile {
        let text: String
        do {
            text = String(decoding: try Files.read(path), as: UTF8.self)
        } catch {
            throw ProfileError(path: path, message: "cannot read the profile: \(error)")
        }
        let file = path.split(separator: "/").last.map(String.init) ?? path
        let name = file.hasSuffix(".toml") ? String(file.dropLast(5)) : file
        return Profile(name: name, path: path, policy: try ProfileParser(path: path, text: text).policy())
    }

    /// One line for `sandlock profile list`: the policy's non-default fields, as flags would
    /// spell their values.
    public var summary: String {
        let parts = Policy.fields.compactMap { field -> String? in
            let values = field.arguments(of: policy)
            guard !field.isDefault(in: policy), !values.isEmpty else { return nil }
            return field.name + " " + values.joined(separator: " ")
        }
        return parts.isEmpty ? "(the default policy)" : parts.joined(separator: "; ")
    }
}

/// What is wrong with a profile, where: `path:line:col: message` (line and column when the
/// problem has a place in the file).
public struct ProfileError: Error, Sendable, CustomStringConvertible, Equatable, Codable {
    public let path: String
    public let line: Int?
    public let column: Int?
    public let message: String

    public init(path: String, line: Int? = nil, column: Int? = nil, message: String) {
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        let place = [line, column].compactMap { $0 }.map(String.init).joined(separator: ":")
        return place.isEmpty ? "\(path): \(message)" : "\(path):\(place): \(message)"
    }
}
