#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import SandlockSystem

/// A run's directory, `<workdir>/.sandlock-jobs/runs/<run-id>/`:
///
///     run.json                         the run (manifest, sha256, plan, status, command line)
///     stages/<stage>/result.json       written atomically when the stage ends
///     stages/<stage>/stdout.log        command stages, pipelines (last member), map reducers
///     stages/<stage>/stderr.log
///     stages/<stage>/shards.jsonl      map stages: one shard record per line, as shards end
///     stages/<stage>/shards/<n>/{stdout.log,stderr.log}
///     stages/<stage>/members/<i>/{stderr.log}
///     stages/<stage>/changes.{txt,json,diff}   copy-on-write stages: what the stage changed
///     …/{stdout,stderr}.attempt-<n>.log        the logs of a retried attempt
///     runner.lock                      flock'ed by the runner while it runs
///
/// and `<workdir>/.sandlock-jobs/runs/latest`, a symlink to the newest run. Records are
/// written to a temp file, fsync'ed and renamed over the final name, so a runner killed at
/// any moment leaves every record either absent or complete. Shard records are lines
/// appended with one write(2) each (a file per shard would cost an inode per shard: at
/// 1,000 shards/s inode allocation shows); a reader ignores a torn last line.
///
/// This type is the one place that knows the layout (`RunDirectory+Layout.swift`: every
/// file name) and the records' transitions (`RunDirectory+Records.swift`: a run started, a
/// stage ended or settled later, the run ended); the runner, the reports and the CLI ask it.
public struct RunDirectory: Sendable {
    /// Absolute path of the run directory.
    public let path: String
    public let id: String
    /// `runner.lock`, held (flock) by the runner that created the directory for as long as
    /// it lives: a reader that can take it knows a `running` run's runner is gone.
    private let runnerLock: SharedDescriptor?

    public init(path: String) {
        self.init(path: path, runnerLock: nil)
    }

    private init(path: String, runnerLock: SharedDescriptor?) {
        self.path = path
        id = String(path.split(separator: "/").last ?? "")
        self.runnerLock = runnerLock
    }

    /// Creates a new run directory: `explicit` when given, else a fresh id under the
    /// workdir's runs root; points the root's `latest` at a run directory inside it.
    public static func create(workdir: String, explicit: String?) throws(RunFileError) -> RunDirectory {
        let root = runsRoot(workdir: workdir)
        let path: String
        if let explicit {
            path = FileSystem.absolute(explicit, base: FileSystem.currentDirectory)
        } else {
            path = root + "/" + newID()
        }
        try RunFiles.makeDirectories(path)
        let run = RunDirectory(path: path, runnerLock: try holdRunnerLock(RunDirectory(path: path).runnerLockPath))
        // `latest` is the newest run of the workdir's history; a run directory chosen
        // elsewhere (`--run-dir`) is not part of it.
        if FileSystem.directory(of: path) == root {
            try RunFiles.pointSymlink(latestLink(root: root), to: run.id)
        }
        return run
    }

    /// Opens and locks `runner.lock`; the kernel drops the lock however the runner ends
    /// (a second Ctrl-C, SIGKILL, a crash).
    private static func holdRunnerLock(_ path: String) throws(RunFileError) -> SharedDescriptor {
        do throws(Errno) {
            let lock = try FileDescriptor(opening: path, flags: O_RDWR | O_CREAT | O_CLOEXEC, mode: 0o644)
            guard try lock.tryLock() else { throw Errno(rawValue: EWOULDBLOCK) }
            return SharedDescriptor(lock)
        } catch {
            throw .file(FileError("lock", path, error))
        }
    }

    /// Whether the runner of this run is gone: nobody holds `runner.lock`. False for runs
    /// recorded before the lock existed (nothing tells).
    public var runnerIsGone: Bool {
        do {
            let lock = try FileDescriptor(opening: runnerLockPath, flags: O_RDONLY | O_CLOEXEC)
            return try lock.tryLock(exclusive: false)
        } catch {
            return false
        }
    }

    /// `20261129T202333.042Z-4f1a`: sorts by start time, unique among runs started together.
    static func newID() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var t = time_t(now.tv_sec)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let milliseconds = String(Int(now.tv_nsec) / 1_000_000 + 1000).dropFirst()
        let stamp = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec)).\(milliseconds)Z"
        let suffix = String(UInt16.random(in: 0...UInt16.max) ^ UInt16(truncatingIfNeeded: getpid()), radix: 16)
        return stamp + "-" + String(repeating: "0", count: 4 - suffix.count) + suffix
    }

    // MARK: History

    /// Run directories under a runs root, newest first (by id, which starts with the time).
    public static func list(root: String) -> [RunDirectory] {
        RunFiles.entries(of: root).filter { $0 != latestName && !$0.hasPrefix(".") }
            .sorted(by: >).map { RunDirectory(path: root + "/" + $0) }
            .filter { FileSystem.isDirectory($0.path) == true }
    }

    /// `latest`, a run id, or a path to a run directory. With `manifest`, `latest` is the
    /// newest run of that manifest (several manifests may share a workdir).
    public static func find(_ name: String, root: String, manifest: String? = nil) -> RunDirectory? {
        if name.contains("/"), FileSystem.isDirectory(name) == true {
            return RunDirectory(path: FileSystem.absolute(name, base: FileSystem.currentDirectory))
        }
        if name == latestName, let manifest {
            return list(root: root).first { (try? $0.readRunRecord())?.manifest == manifest }
        }
        if name == latestName {
            guard let target = RunFiles.readSymlink(latestLink(root: root)) else { return list(root: root).first }
            return RunDirectory(path: target.hasPrefix("/") ? target : root + "/" + target)
        }
        let candidate = root + "/" + name
        if FileSystem.isDirectory(candidate) == true { return RunDirectory(path: candidate) }
        // A unique prefix of an id is enough.
        let matches = list(root: root).filter { $0.id.hasPrefix(name) }
        return matches.count == 1 ? matches[0] : nil
    }
}

