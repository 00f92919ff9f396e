#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import SandlockCore

/// `sandlock-jobs cache list|prune`: what a store holds, and removing entries by age or by
/// the runs that produced them, then every object no remaining entry refers to.
public struct CacheMaintenance: Sendable {
    let store: CacheStore

    /// The store of `workdir` (or `directory`); nil when it does not exist.
    public init?(workdir: String, directory: String? = nil) {
        let root = directory.map { FileSystem.absolute($0, base: FileSystem.currentDirectory) } ?? CacheStore.defaultRoot(workdir: workdir)
        guard FileSystem.isDirectory(root) == true, let store = try? CacheStore(root: root) else { return nil }
        self.store = store
    }

    public var root: String { store.root }

    /// Objects younger than this are never pruned: a run may have stored them and not yet
    /// written the entry that refers to them.
    static let grace: Double = 3600

    struct Found {
        var path: String
        var entry: CacheEntry?
    }

    private func entries() -> [Found] {
        ContentDigests.files(under: store.root + "/entries").filter { $0.hasSuffix(".json") }.map { path in
            Found(path: path, entry: try? RecordCoding.decode(CacheEntry.self, path: path))
        }
    }

    private func objects() -> [String] {
        ContentDigests.files(under: store.root + "/objects").filter { !$0.split(separator: "/").last!.hasPrefix(".") }
    }

    /// One row per stage: stored stage results and shards, the newest producing run; then the
    /// totals (unreadable entries counted apart).
    public func list() -> String {
        var rows = [["STAGE", "RESULTS", "SHARDS", "NEWEST RUN"]]
        var byStage: [String: (results: Int, shards: Int, newest: String)] = [:]
        var unreadable = 0
        let found = entries()
        for f in found {
            guard let e = f.entry else { unreadable += 1; continue }
            var row = byStage[e.stage] ?? (0, 0, "")
            if e.shard == nil { row.results += 1 } else { row.shards += 1 }
            row.newest = max(row.newest, e.run)
            byStage[e.stage] = row
        }
        for (stage, row) in byStage.sorted(by: { $0.key < $1.key }) {
            rows.append([stage, String(row.results), String(row.shards), row.newest])
        }
        let objects = objects()
        let bytes = objects.reduce(Int64(0)) { $0 + Int64(Files.status($1)?.st_size ?? 0) }
        var out = RunSummary.table(rows)
        out += "\n\(found.count) entries\(unreadable > 0 ? " (\(unreadable) unreadable)" : ""), \(objects.count) objects, \(RunSummary.size(UInt64(bytes))) in \(store.root)\n"
        return out
    }

    public struct Pruned: Sendable {
        public var entries = 0
        public var objects = 0
        public var bytes: Int64 = 0
    }

    /// Removes the entries older than `olderThan`, and those not produced by one of the
    /// `keepRuns` newest runs that have entries, and unreadable ones; then the objects no
    /// remaining entry refers to (older than an hour).
    public func prune(olderThan: Duration?, keepRuns: Int?) -> Pruned {
        var pruned = Pruned()
        let found = entries()
        let now = Date.now
        let kept = keepRuns.map { Set(Set(found.compactMap { $0.entry?.run }).sorted(by: >).prefix($0)) }
        var referenced = Set<String>()
        for f in found {
            let tooOld = olderThan.map { limit in f.entry.map { now.timeIntervalSince($0.created) > Double(limit.components.seconds) } ?? true } ?? false
            let notKept = kept.map { runs in f.entry.map { !runs.contains($0.run) } ?? true } ?? false
            if f.entry == nil || tooOld || notKept {
                if unlink(f.path) == 0 { pruned.entries += 1 }
                continue
            }
            guard let e = f.entry else { continue }
            referenced.formUnion(e.files.values)
            referenced.formUnion(e.outputs.compactMap(\.sha256))
        }
        for object in objects() {
            let name = String(object.split(separator: "/").last ?? "")
            guard !referenced.contains(name), let info = Files.status(object),
                  now.timeIntervalSince1970 - Double(info.st_mtim.tv_sec) > Self.grace else { continue }
            if unlink(object) == 0 {
                pruned.objects += 1
                pruned.bytes += Int64(info.st_size)
            }
        }
        return pruned
    }
}
