import SandlockCore

/// Every key the manifest language accepts, per mapping. The decoder rejects any other key
/// (with a "did you mean"), `sandlock-jobs schema --keys` prints these sets, and the tests
/// check that the schema declares exactly the same properties (the section names are the
/// schema's `$defs`; `manifest` is the document root). The policy sections' keys are
/// `Policy.fields`' manifest keys.
public enum ManifestVocabulary {
    public static let sections: [(name: String, keys: [String])] =
        [("manifest", manifest), ("defaults", defaults), ("policy", policy)]
        + ManifestKey.sections.map { ($0, keys(of: $0)) }
        + [("stage", stage), ("map", map), ("over", over), ("process", process), ("retry", retry), ("backoff", backoff)]

    public static let manifest = ["version", "name", "description", "workdir", "env", "policies", "defaults", "stages", "shell", "params"]
    public static let defaults = ["policy", "timeout", "retry", "on_success", "on_failure", "shell", "cache"]
    /// A policy's keys: `extends`, `description`, its sections and the fields of
    /// `Policy.fields` that sit at its top (`allow_degraded`).
    public static let policy = ["extends", "description"] + ManifestKey.sections
        + Policy.fields.compactMap { $0.manifest?.section == nil ? $0.manifest?.key : nil }
    public static let filesystem = keys(of: "filesystem")
    public static let network = keys(of: "network")
    public static let limits = keys(of: "limits")
    public static let determinism = keys(of: "determinism")
    public static let syscalls = keys(of: "syscalls")
    public static let environment = keys(of: "environment")

    /// The keys of a policy section, from `Policy.fields`.
    public static func keys(of section: String) -> [String] {
        Policy.fields.compactMap { $0.manifest?.section == section ? $0.manifest?.key : nil }
    }
    public static let stage = [
        "description", "needs", "run", "pipeline", "map", "reduce", "policy", "env", "cwd",
        "timeout", "retry", "if", "allow_failures", "on_success", "on_failure", "shell", "inputs", "outputs", "cache", "secrets", "artifacts",
    ]
    /// Named shells of `shell:` (a list is an argv template).
    public static let shells = ["default", "bash", "sh"]
    public static let map = ["over", "max_parallel"]
    public static let over = ["glob", "items", "shards", "lines", "matrix"]
    /// A pipeline member or the reducer of a map stage.
    public static let process = ["run", "policy", "env", "cwd", "inputs", "outputs"]
    public static let retry = ["limit", "on", "backoff"]
    public static let backoff = ["delay", "factor", "max"]

    /// Top-level keys starting with this are ignored: a place for YAML anchors
    /// (`x-base: &base {…}`), as in Compose files.
    public static let extensionPrefix = "x-"

    /// Reasons a stage may be retried for (`retry.on`).
    public static let retryReasons = ["failure", "exit", "signal", "timeout", "memory_limit", "process_limit", "spawn_failure"]
    /// Values of a stage's `if`.
    public static let conditions = ["success", "failure", "always"]
    /// Values of `on_success` and `on_failure` (`SandlockCore.Disposition`).
    public static let dispositions = Disposition.allCases.map(\.rawValue)
}
