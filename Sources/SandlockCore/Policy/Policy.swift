/// What a sandboxed process may do. Field names follow sandlock's `Policy` reference
/// (`fs_readable`, `max_memory`, …) in snake_case when encoded; every field maps onto one
/// `sandlock run` flag and one manifest key. `Policy.fields` declares each field's names,
/// notation and range; JSON coding, flags, manifest keys and `validate()` come from it.
///
/// A field this build cannot enforce on the running kernel is an error when the sandbox
/// starts, unless `allowDegraded` is set; the run's `Enforcement` then says what was left out.
public struct Policy: Sendable, Hashable {
    // MARK: Filesystem (Landlock)

    /// Trees the process may read and execute (`-r/--fs-read`).
    public var fsReadable: [String] = []
    /// Trees the process may read, write, create in, remove from and rename in (`-w/--fs-write`).
    public var fsWritable: [String] = []
    /// Carve-outs inside allowed trees (`--fs-deny`); needs the supervisor.
    public var fsDenied: [String] = []
    /// `/dev/null`, `/dev/zero`, `/dev/full`, `/dev/random` and `/dev/urandom` readable and
    /// writable. Shell redirections and background jobs need them.
    public var defaultDevices: Bool = true

    /// Copy-on-write root (`--workdir`): the command's writes under it go to a workspace's
    /// upper directory (OverlayFS in a private mount namespace) and reach the real tree only
    /// when committed. Also the command's default working directory. Writing there still
    /// needs a grant (`fsWritable`) covering it.
    public var workdir: String? = nil
    /// What to do with the workspace when the command exits 0 (`--on-exit`).
    public var onExit: Disposition = .commit
    /// What to do with it otherwise: non-zero exit, signal, timeout, limit kill (`--on-error`).
    public var onError: Disposition = .abort
    /// Where workspaces live (`--fs-storage`); default `Workspace.defaultStorage`.
    public var fsStorage: String? = nil

    // MARK: Syscalls (seccomp-bpf)

    /// Replaces the default deny list when set (`nil` = the default list).
    public var denySyscalls: [String]? = nil
    /// Allowlist mode: everything not listed fails with EPERM. `execve` is always added,
    /// since the sandbox could not start its command otherwise.
    public var allowSyscalls: [String]? = nil
    /// Names or groups added to the deny list (`--extra-deny-syscall`).
    public var extraDenySyscalls: [String] = []
    /// Groups taken off the deny list; only `sysv_ipc` exists.
    public var extraAllowSyscalls: [String] = []

    // MARK: Network

    /// Outbound endpoints (`host:port`, `:port`); empty = no outbound TCP. Needs the
    /// network policy engine for concrete hosts.
    public var netAllow: [String] = []
    /// TCP ports the process may bind (`--net-bind`, Landlock ABI 4).
    public var netBind: [UInt16] = []
    /// UDP sockets (denied by default).
    public var allowUDP: Bool = false
    /// ICMP datagram ("ping") sockets (denied by default).
    public var allowICMP: Bool = false
    /// Virtual port space; needs the supervisor.
    public var portRemap: Bool = false
    /// Named unix sockets (or trees of them) the process may connect to besides those in
    /// `fsWritable` trees (`--unix-connect`); Landlock ABI < 9 does not restrict unix connects,
    /// so the supervisor does.
    public var unixConnect: [String] = []

    /// Endpoints refused even when `netAllow` covers them (`--net-deny`, same notation;
    /// deny wins); needs the supervisor's network gate.
    public var netDeny: [String] = []
    /// HTTP ACL (`--http-allow "METHOD host/path"`, repeatable): with any allow rule, an
    /// intercepted request must match one. Connects to the intercepted ports go through the
    /// HTTP proxy; each rule adds its host (or `*`) on those ports to `netAllow`.
    public var httpAllow: [String] = []
    /// Requests refused whatever the allow rules say (`--http-deny`, checked first).
    public var httpDeny: [String] = []
    /// Intercepted plain-HTTP ports (`--http-port`); empty = 80. Only with HTTP rules.
    public var httpPorts: [UInt16] = []
    /// PEM CA certificate that signs the leaf certificates minted for intercepted HTTPS
    /// (`--https-ca`); with it port 443 is intercepted too. Needs `httpsKey`.
    public var httpsCA: String? = nil
    /// The CA's PEM private key (`--https-key`).
    public var httpsKey: String? = nil

    // MARK: Resources

    /// Anonymous memory of the whole sandbox, in bytes (`-m`).
    public var maxMemory: UInt64? = nil
    /// Concurrent tasks, processes and threads together (`-P`): a pids cgroup or RLIMIT_NPROC
    /// in a user namespace where the kernel allows, else the supervisor (Spawn/ProcessLimit.swift).
    public var maxProcesses: Int? = nil
    /// CPU share in percent of one core (`-c`).
    public var maxCPU: Int? = nil
    /// RLIMIT_NOFILE (`--max-open-files`).
    public var maxOpenFiles: Int? = nil
    /// CPU affinity (`--cpu-cores`).
    public var cpuCores: [Int]? = nil
    /// CPUs the process sees (`--num-cpus`).
    public var numCPUs: Int? = nil
    /// Wall-clock limit; the whole process tree is killed when it expires (`-t`).
    public var timeout: Duration? = nil

    // MARK: Determinism

    /// Wall clock starts at this Unix time, in seconds (`--time-start`).
    public var timeStart: Int64? = nil
    /// Seed of getrandom and /dev/urandom (`--random-seed`).
    public var randomSeed: UInt64? = nil
    public var deterministicDirs: Bool = false
    /// ADDR_NO_RANDOMIZE personality (`--no-randomize-memory`).
    public var noRandomizeMemory: Bool = false
    /// PR_SET_THP_DISABLE (`--no-huge-pages`).
    public var noHugePages: Bool = false
    /// RLIMIT_CORE = 0 (`--no-coredump`).
    public var noCoredump: Bool = false

    // MARK: Environment

    /// Start from the minimal environment of `Environment.minimal` (`--clean-env`).
    public var cleanEnv: Bool = false
    /// Variables set or overridden after `cleanEnv` (`--env K=V`).
    public var env: [String: String] = [:]
    /// Working directory of the command (`--cwd`).
    public var cwd: String? = nil

    // MARK: Process

    /// Instance name (`--name`).
    public var name: String? = nil
    /// Landlock and the deny-only filter, no supervisor (`--no-supervisor`).
    public var noSupervisor: Bool = false
    /// Keep the caller's capabilities when it is root (default: all dropped).
    public var keepCapabilities: Bool = false
    /// Run even when the kernel cannot enforce part of the policy; the result records what
    /// was left out (`--allow-degraded`).
    public var allowDegraded: Bool = false

    public init() {}
}
