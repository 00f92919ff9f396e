/// One field of `Policy`, declared once (`Policy.fields`): where it lives in the struct,
/// its name in JSON and sandlock profiles, its manifest key, its `sandlock run` flags, the
/// notation of its values and its range. The CLI parser and `--help`, the manifest decoder
/// and schema, `extends` merging, `plan` and `Policy.validate()` all read this table, so a
/// field means the same everywhere.
public struct PolicyField: Sendable {
    /// sandlock's snake_case name: the JSON (Codable) key and the profile key (`max_memory`).
    public let name: String
    /// The group of the field in `sandlock run --help`.
    public let section: PolicySection
    /// The manifest key inside a `policy:`; `nil` when manifests cannot set it (the planner
    /// fills `timeout`, `cwd` from stage keys).
    public let manifest: ManifestKey?
    /// `sandlock run` names, short first (`-m`, `--max-memory`, aliases after); empty when
    /// the CLI has no flag for it.
    public let flags: [String]
    /// The notation and storage of the values.
    public let grammar: PolicyGrammar
    /// One line for `--help` and the schema's description.
    public let doc: String
    /// The value's placeholder in `--help` (`PATH`); `nil` takes the grammar's.
    public let valueName: String?
    /// How `plan` mentions the field in its one-line summary; `nil` leaves it out.
    public let summary: PolicySummary?
    /// `plan --json` shows the field even at its default (`fs_readable: []`).
    public let shownWhenDefault: Bool

    public init(_ name: String, _ section: PolicySection, manifest: ManifestKey?, flags: [String],
                _ grammar: PolicyGrammar, valueName: String? = nil, summary: PolicySummary? = nil,
                shownWhenDefault: Bool = false, doc: String) {
        self.name = name
        self.section = section
        self.manifest = manifest
        self.flags = flags
        self.grammar = grammar
        self.doc = doc
        self.valueName = valueName
        self.summary = summary
        self.shownWhenDefault = shownWhenDefault
    }

    /// The longest flag name (`--max-memory`), for messages.
    public var flag: String? { flags.first { $0.hasPrefix("--") } ?? flags.first }

    /// The placeholder of the value in `--help`; `nil` for a flag without value.
    public var placeholder: String? { grammar.takesValue ? valueName ?? grammar.placeholder : nil }

    /// The table entry named `name` (sandlock's snake_case name).
    public static func named(_ name: String) -> PolicyField? { Policy.fields.first { $0.name == name } }
}

/// Where a field sits in a manifest's `policy:`: `limits.memory`, or `allow_degraded` at
/// the top of the policy (`section == nil`).
public struct ManifestKey: Sendable, Hashable {
    public let section: String?
    public let key: String

    public init(_ section: String?, _ key: String) {
        self.section = section
        self.key = key
    }

    /// `limits.memory`.
    public var path: String { section.map { "\($0).\(key)" } ?? key }

    /// The manifest's policy sections, in the order the schema and the docs list them.
    public static let sections = ["filesystem", "network", "limits", "determinism", "syscalls", "environment"]
}

/// How `plan` mentions a field that is set: `label VALUE` (`memory 256M`), or a fixed text
/// for a flag that is on (`clean env`). `whenEmpty` is said for an empty list
/// (`read nothing`); `suffix` follows the value (`cpu 50%`).
public struct PolicySummary: Sendable {
    public let label: String?
    public let text: String?
    public let whenEmpty: String?
    public let suffix: String

    public static func label(_ label: String, whenEmpty: String? = nil, suffix: String = "") -> PolicySummary {
        PolicySummary(label: label, text: nil, whenEmpty: whenEmpty, suffix: suffix)
    }

    public static func text(_ text: String) -> PolicySummary {
        PolicySummary(label: nil, text: text, whenEmpty: nil, suffix: "")
    }
}

/// Groups of `sandlock run --help`, in the order it prints them.
public enum PolicySection: String, Sendable, CaseIterable {
    case filesystem, workspace, network, syscalls, limits, determinism, environment, process

    public var title: String {
        switch self {
        case .filesystem: "Filesystem"
        case .workspace: "Copy-on-write"
        case .network: "Network"
        case .syscalls: "Syscalls"
        case .limits: "Resources"
        case .determinism: "Determinism"
        case .environment: "Environment"
        case .process: "Process"
        }
    }
}

/// A writable path into `Policy` that may be stored in the static table.
public typealias PolicyRef<Value> = any WritableKeyPath<Policy, Value> & Sendable

/// The notations a policy value is written in. Each kind knows how to parse a `sandlock run`
/// argument, how `extends` merges it, and its checks (`Policy.validate()`); SandlockJobs
/// adds how a manifest writes it, its JSON Schema and its rendering, by kind, never by field.
public enum PolicyGrammar: Sendable {
    /// On or off. A CLI flag without value turns it on.
    case flag(PolicyRef<Bool>)
    /// Paths, repeatable (`-r /usr -r /lib`); lists are joined by `extends`.
    case paths(PolicyRef<[String]>)
    /// One string (a path or a name).
    case string(PolicyRef<String?>)
    /// Bytes: `512M`, `1G`, `100K` or a number; at least 1.
    case size(PolicyRef<UInt64?>)
    /// `30`, `30s`, `5m`, `500ms`; more than zero.
    case duration(PolicyRef<Duration?>)
    /// An integer in `range`; `noun` names it in messages ("a percentage").
    case integer(PolicyRef<Int?>, ClosedRange<Int>, noun: String)
    /// CPU numbers in `range`, at least one (`0,2,3`).
    case cpuList(PolicyRef<[Int]?>, ClosedRange<Int>)
    /// TCP ports 1–65535, repeatable (`8080`, `8080,9000-9005`).
    case ports(PolicyRef<[UInt16]>)
    /// Outbound endpoints (`host:port`, `:port`, `[v6]:port`), repeatable.
    case endpoints(PolicyRef<[String]>)
    /// HTTP rules (`METHOD host[:port]/path`), repeatable.
    case httpRules(PolicyRef<[String]>)
    /// RFC 3339 (`2000-01-01T00:00:00Z`) or Unix seconds.
    case timestamp(PolicyRef<Int64?>)
    /// A non-negative 64-bit seed.
    case seed(PolicyRef<UInt64?>)
    /// Syscall names or groups, repeatable.
    case syscalls(PolicyRef<[String]>)
    /// Names of syscall groups (`SeccompProgram.groups`), repeatable.
    case syscallGroups(PolicyRef<[String]>)
    /// Syscall names that replace a default list; empty means "not set".
    case syscallSet(PolicyRef<[String]?>)
    /// Environment variables (`K=V`, repeatable), merged by name.
    case environment(PolicyRef<[String: String]>)
    /// commit, abort or keep.
    case disposition(PolicyRef<Disposition>)

    public var takesValue: Bool {
        if case .flag = self { return false }
        return true
    }

    /// Lists: given again, a flag adds to them; `extends` joins them.
    public var isList: Bool {
        switch self {
        case .paths, .cpuList, .ports, .endpoints, .httpRules, .syscalls, .syscallGroups, .syscallSet, .environment: true
        case .flag, .string, .size, .duration, .integer, .timestamp, .seed, .disposition: false
        }
    }

    public var placeholder: String {
        switch self {
        case .flag: ""
        case .paths, .string: "PATH"
        case .size: "SIZE"
        case .duration: "DURATION"
        case .integer: "N"
        case .cpuList: "LIST"
        case .ports: "PORTS"
        case .endpoints: "SPEC"
        case .httpRules: "RULE"
        case .timestamp: "TIME"
        case .seed: "N"
        case .syscalls, .syscallSet: "NAME"
        case .syscallGroups: "GROUP"
        case .environment: "KEY=VALUE"
        case .disposition: "ACTION"
        }
    }
}
