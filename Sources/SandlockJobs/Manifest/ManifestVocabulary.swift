import SandlockCore

/// Every key the manifest language accepts, per mapping. The decoder rejects any other key
/// (with a "did you mean"), `sandlock-jobs schema --keys` prints these sets, and the tests
/// check that `schemas/sandlock-jobs.schema.json` declares exactly the same properties
/// (the section names are the schema's `$defs`; `manifest` is the document root).
public enum ManifestVocabulary {
    public static let sections: [(name: String, keys: [String])] = [
        ("manifest", manifest), ("defaults", defaults), ("policy", policy),
        ("filesystem", filesystem), ("network", network), ("limits", limits),
        ("determinism", determinism), ("syscalls", syscalls), ("environment", environment),
        ("stage", stage), ("map", map), ("over", over), ("process", process),
        ("retry", retry), ("backoff", backoff),
    ]

    public static let manifest = ["version", "name", "description", "workdir", "env", "policies", "defaults", "stages"]
    public static let defaults = ["policy", "timeout", "retry", "on_success", "on_failure"]
    public static let policy = [
        "extends", "description", "filesystem", "network", "limits", "determinism", "syscalls",
        "environment", "allow_degraded",
    ]
    public static let filesystem = ["read", "write", "deny", "devices"]
    public static let network = ["allow", "bind", "udp", "icmp", "port_remap"]
    public static let limits = ["memory", "processes", "cpu", "open_files", "cpu_cores", "num_cpus"]
    public static let determinism = [
        "time_start", "random_seed", "deterministic_dirs", "no_randomize_memory", "no_huge_pages",
        "no_coredump",
    ]
    public static let syscalls = ["deny", "allow", "extra_deny", "extra_allow"]
    public static let environment = ["clean", "env"]
    public static let stage = [
        "description", "needs", "run", "pipeline", "map", "reduce", "policy", "env", "cwd",
        "timeout", "retry", "if", "allow_failures", "on_success", "on_failure",
    ]
    public static let map = ["over", "max_parallel"]
    public static let over = ["glob", "items", "shards", "lines"]
    /// A pipeline member or the reducer of a map stage.
    public static let process = ["run", "policy", "env", "cwd"]
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
