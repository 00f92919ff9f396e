#if canImport(Glibc)
import Glibc
#endif
import CSandlock
import FoundationEssentials
import Synchronization

/// Named sandboxes of the current user: one JSON file per live sandbox in a private
/// directory (`$XDG_RUNTIME_DIR/sandlock`, else `/tmp/sandlock-<uid>`, mode 0700, owned by
/// the user), for `sandlock ps`, `kill` and `inspect`. Entries of sandboxes that are gone are
/// pruned whenever the registry is read; a name is refused while a live sandbox holds it.
public struct SandboxRegistry: Sendable {
    public struct Entry: Codable, Sendable, Equatable {
        public var name: String
        /// The sandbox's init (its process tree's root inside the sandbox).
        public var pid: Int32
        /// init's start time in clock ticks since boot (/proc/<pid>/stat field 22), which
        /// tells a live entry from a recycled pid.
        public var startTicks: UInt64
        public var startedAt: Int64
        public var command: [String]
        public var ports: [UInt16]
        /// With port_remap: virtual port → the real port it is bound to, when they differ.
        public var remapped: [UInt16: UInt16] = [:]
        /// The process that owns (supervises) the sandbox.
        public var owner: Int32
        public var policy: Policy

        enum CodingKeys: String, CodingKey {
            case name, pid, startTicks = "start_ticks", startedAt = "started_at", command, ports, remapped, owner, policy
        }
    }

    public let directory: String

    /// The user's registry, created private if missing; an error if it exists but is not.
    public static func user() throws(SandboxError) -> SandboxRegistry {
        let base: String
        if let runtime = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }), !runtime.isEmpty, access(runtime, W_OK) == 0 {
            base = runtime + "/sandlock"
        } else {
            base = "/tmp/sandlock-\(geteuid())"
        }
        if mkdir(base, 0o700) != 0 && errno != EEXIST {
            throw .systemCall("mkdir(\(base))", .current)
        }
        guard let info = Files.status(base), info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid(), info.st_mode & 0o077 == 0 else {
            throw .invalidPolicy("the sandbox registry \(base) is not a private directory of this user; remove it")
        }
        return SandboxRegistry(directory: base)
    }

    /// A name is also the sandbox's host name: HOST_NAME_MAX bytes at most.
    static let maximumNameLength = 64

    /// Names are file names: 1 to 64 bytes, no `/`, no NUL, not `.` or `..`.
    public static func validate(_ name: String) throws(SandboxError) {
        guard !name.isEmpty, name.utf8.count <= maximumNameLength, !name.contains("/"), !name.contains("\0"), name != ".", name != ".." else {
            throw .invalidPolicy("name '\(name)' must be 1 to 64 bytes without '/' (it is the sandbox's host name and registry key)")
        }
    }

    /// Reserves `entry.name` for a sandbox about to start (pid 0 until it has one); fails while
    /// a live sandbox has the name. The entry is written whole, then linked into place, so no
    /// reader ever sees half a file and two starters cannot both win.
    func reserve(_ entry: Entry) throws(SandboxError) {
        try Self.validate(entry.name)
        for _ in 0..<2 {
            guard let temporary = writeTemporary(entry) else { throw .systemCall("write(\(directory))", .current) }
            defer { unlink(temporary) }
            if link(temporary, file(entry.name)) == 0 { return }
            guard errno == EEXIST else { throw .systemCall("link(\(file(entry.name)))", .current) }
            if let holder = read(entry.name), isAlive(holder) {
                throw .invalidPolicy("a sandbox named '\(entry.name)' is already running (pid \(holder.pid == 0 ? holder.owner : holder.pid)); pick another --name or `sandlock kill \(entry.name)`")
            }
            unlink(file(entry.name)) // stale: its sandbox is gone
        }
        throw .invalidPolicy("cannot register the name '\(entry.name)' in \(directory)")
    }

    /// Replaces the entry (atomically) once the sandbox runs.
    func record(_ entry: Entry) {
        guard let data = try? JSONEncoder().encode(entry) else { return }
        try? Files.writeAtomically(Array(data), to: file(entry.name), mode: Self.entryMode, durable: false)
    }

    func remove(_ name: String, pid: Int32) {
        if let entry = read(name), entry.pid != pid, entry.owner != getpid() { return }
        unlink(file(name))
    }

    /// Entries are private to the user.
    private static let entryMode: mode_t = 0o600

    /// The entry written whole under a hidden unique name (not `*.json`, so `entries` skips
    /// it), for `reserve` to link into place; nil when it cannot be written.
    private func writeTemporary(_ entry: Entry) -> String? {
        guard let data = try? JSONEncoder().encode(entry) else { return nil }
        let temporary = directory + "/.\(entry.name).\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        guard let file = try? FileDescriptor(opening: temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: Self.entryMode) else {
            return nil
        }
        guard (try? file.writeAll(Array(data))) != nil else {
            unlink(temporary)
            return nil
        }
        return temporary
    }

    /// Live sandboxes, oldest first; stale entries are removed on the way.
    public func entries() -> [Entry] {
        let names = ((try? Directory.entries(atPath: directory, names: .lossy)) ?? [])
            .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }
        var live: [Entry] = []
        for name in names {
            guard let entry = read(name) else { continue }
            if isAlive(entry) {
                if entry.pid != 0 { live.append(entry) }
            } else {
                unlink(file(name))
            }
        }
        return live.sorted { $0.startedAt < $1.startedAt }
    }

    public func entry(named name: String) -> Entry? {
        entries().first { $0.name == name }
    }

    /// Ends a named sandbox and every process in it (SIGTERM to its init, through a pidfd
    /// opened after checking the pid is still that sandbox's init).
    public func terminate(_ name: String) throws(SandboxError) -> Entry {
        guard let entry = entry(named: name) else {
            throw .invalidPolicy("no running sandbox named '\(name)' (see `sandlock ps`)")
        }
        let opened = csl_pidfd_open(entry.pid)
        guard opened >= 0 else { throw .systemCall("pidfd_open(\(entry.pid))", .current) }
        let pidfd = FileDescriptor(adopting: opened)
        guard Self.startTicks(of: entry.pid) == entry.startTicks else {
            throw .invalidPolicy("sandbox '\(name)' has just ended")
        }
        guard csl_pidfd_send_signal(pidfd.rawValue, SIGTERM) == 0 else {
            throw .systemCall("pidfd_send_signal(\(entry.pid))", .current)
        }
        return entry
    }

    private func file(_ name: String) -> String { directory + "/" + name + ".json" }

    private func read(_ name: String) -> Entry? {
        guard let bytes = try? Files.read(file(name)) else { return nil }
        return try? JSONDecoder().decode(Entry.self, from: Data(bytes))
    }

    /// A running sandbox (same init, same start time), or a reservation whose owner lives.
    private func isAlive(_ entry: Entry) -> Bool {
        entry.pid > 0 ? Self.startTicks(of: entry.pid) == entry.startTicks : Glibc.kill(entry.owner, 0) == 0
    }

    /// `starttime`, field 22 of /proc/<pid>/stat: the 20th after the `(comm)` name.
    private static let startTimeField = 19

    static func startTicks(of pid: Int32) -> UInt64? {
        guard let stat = try? Files.readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > startTimeField ? UInt64(fields[startTimeField]) : nil
    }
}

/// A named sandbox's place in the registry, from reservation (before the start) to the end.
/// A start that fails releases the name when this goes away.
final class NameRegistration: Sendable {
    private let registry: SandboxRegistry
    private let entry: Mutex<SandboxRegistry.Entry?>

    init(name: String, policy: Policy, command: [String]) throws(SandboxError) {
        registry = try SandboxRegistry.user()
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let entry = SandboxRegistry.Entry(
            name: name, pid: 0, startTicks: 0, startedAt: Int64(now.tv_sec), command: command,
            ports: policy.netBind, owner: getpid(), policy: policy)
        try registry.reserve(entry)
        self.entry = Mutex(entry)
    }

    func started(pid: Int32) {
        entry.withLock { entry in
            guard var current = entry else { return }
            current.pid = pid
            current.startTicks = SandboxRegistry.startTicks(of: pid) ?? 0
            registry.record(current)
            entry = current
        }
    }

    /// Every port the sandbox bound with port_remap, virtual → real (the registry keeps only
    /// those that differ).
    private let mapping = Mutex<[UInt16: UInt16]>([:])

    var portMapping: [UInt16: UInt16] { mapping.withLock { $0 } }

    /// The sandbox's port map changed (port_remap): `ps` shows it.
    func ports(_ mapping: [UInt16: UInt16]) {
        self.mapping.withLock { $0 = mapping }
        entry.withLock { entry in
            guard var current = entry else { return }
            current.remapped = mapping.filter { $0.key != $0.value }
            registry.record(current)
            entry = current
        }
    }

    /// Idempotent.
    func end() {
        entry.withLock { entry in
            guard let current = entry else { return }
            registry.remove(current.name, pid: current.pid)
            entry = nil
        }
    }

    deinit { end() }
}
