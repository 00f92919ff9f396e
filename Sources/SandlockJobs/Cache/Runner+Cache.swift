#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import SandlockCore
import Synchronization

/// The cache as one run uses it: the store (nil when it cannot be opened: every stage then
/// runs, with one warning), and the map stages' shard keys while they run.
final class RunCache: Sendable {
    let store: CacheStore?
    let digests: ContentDigests
    let problem: String?
    let shards = Mutex<[String: ShardKeys]>([:])

    /// A map stage's shards: their keys, whether a shard is stored (its worker writes no
    /// copy-on-write tree, whose per-shard changes the store does not keep) and may be reused
    /// from the store (also not refused: `--no-cache`, `--refresh`), the shards `resume`
    /// keeps, and what missed, for the explanation.
    struct ShardKeys: Sendable {
        var keys: [String]
        var storable: Bool
        var reusable: Bool
        var kept: Set<Int> = []
        var missed = 0
        var missedItems: [String] = []
    }

    init(workdir: String, options: RunOptions) {
        let root = options.cache.directory.map { FileSystem.absolute($0, base: FileSystem.currentDirectory) }
            ?? CacheStore.defaultRoot(workdir: workdir)
        do {
            let store = try CacheStore(root: root)
            self.store = store
            digests = store.digests
            problem = nil
        } catch {
            store = nil
            digests = ContentDigests(file: "")
            problem = "the cache at \(root) cannot be used (\(error)): every stage runs and nothing is stored"
        }
    }

    /// Why `stage` may not be reused, or nil. `upstream` is every stage it needs, directly or not.
    func refusal(of stage: PlannedStage, upstream: Set<String>, options: RunOptions) -> String? {
        if options.dryRun { return "--dry-run (the cache is not used)" }
        if !stage.cache.enabled { return "cache disabled (cache: false)" }
        if !options.cache.reuse { return "--no-cache" }
        if options.cache.refresh.contains(stage.name) { return "--refresh \(stage.name)" }
        if let refreshed = options.cache.refresh.first(where: upstream.contains) { return "--refresh \(refreshed) (upstream)" }
        if store == nil { return "the cache cannot be used" }
        return nil
    }
}

extension Runner {
    /// The hook where a stage is about to run: computes its key, keeps it (`resume`) or puts
    /// back a stored result when the key has one, else runs it and stores what succeeded.
    func runOrReuse(_ stage: PlannedStage, upstream: [String: String]) async -> StageRecord {
        let parts: KeyParts
        do { parts = try keyParts(of: stage, upstream: upstream) } catch {
            var record = StageRecord(stage: stage.name, kind: stage.kindName, status: .failed)
            record.reason = .spawnFailed
            record.message = error.message
            record.started = .now
            record.ended = record.started
            return record
        }
        let key = parts.key
        if options.cache.resume, var kept = directory.readStageRecord(stage.name), kept.status == .succeeded,
           kept.cache?.key == key {
            kept.cache?.outcome = .kept
            kept.cache?.explanation = "kept: it succeeded earlier in this run directory"
            return kept
        }
        let store = cache.store
        let last = store?.lastParts(manifest: plan.manifestPath, stage: stage.name)
        var why = last.map { $0.key == key ? "no stored result for this key" : parts.changes(since: $0, workdir: plan.workdir) } ?? "never ran"
        if let refusal = cache.refusal(of: stage, upstream: ancestors[stage.name] ?? [], options: options) {
            why = refusal
        } else if let store, let found = store.entry(key) {
            switch found.flatMap({ reuse($0, of: stage, store: store) }) {
            case .success(let record): return record
            case .failure(let error):
                events(.warning("stage '\(stage.name)': \(error); running it"))
                why = "cache entry unusable: \(error)"
            }
        }
        var record = await execute(stage)
        if let shards = cache.shards.withLock({ $0.removeValue(forKey: stage.name) }), shards.keys.count > 0 {
            let reused = shards.keys.count - shards.missed
            why += "; \(shards.missed) of \(shards.keys.count) shards ran (\(reused) \(options.cache.resume ? "kept or cached" : "cached"))"
            if !shards.missedItems.isEmpty { why += ": " + shards.missedItems.joined(separator: ", ") + (shards.missed > shards.missedItems.count ? ", …" : "") }
        }
        record.cache = CacheNote(key: key, outcome: .ran, explanation: why)
        if record.status == .succeeded, stage.cache.enabled, !options.dryRun, let store {
            do { try storeResult(of: stage, record, parts: parts, store: store) } catch {
                record.cache?.notStored = error.description
                events(.warning("stage '\(stage.name)': not cached: \(error)"))
            }
        }
        return record
    }

    /// The needed stages' keys: this run's, else (a stage left out by `--only`/`--from`) the
    /// last stored one.
    func upstreamKeys(of stage: PlannedStage, _ results: [String: StageRecord]) -> [String: String] {
        var keys: [String: String] = [:]
        for need in stage.needs {
            keys[need] = results[need]?.cache?.key ?? cache.store?.lastParts(manifest: plan.manifestPath, stage: need)?.key ?? "none"
        }
        return keys
    }

    /// Saves what the cache learnt (the content digests) when the run ends.
    func cacheRunEnded() {
        cache.digests.save()
        if let problem = cache.problem { events(.warning(problem)) }
    }

    // MARK: Keys

    /// The stage's key parts (see `KeyParts`); for a map stage also every shard's key, kept
    /// for `runShard`.
    func keyParts(of stage: PlannedStage, upstream: [String: String]) throws(StageSetupError) -> KeyParts {
        var parts = KeyParts()
        parts.parts["stage"] = KeyParts.digest(stage.name)
        for (need, key) in upstream { parts.parts["need " + need] = key }
        let environment = ["SANDLOCK_STAGE": stage.name]
        do throws(InputError) { try cache.digests.addInputs(stage.cache.inputs, missingAllowed: options.dryRun, to: &parts) } catch {
            throw StageSetupError(message: error.message)
        }
        switch stage.work {
        case .command(let process):
            parts.add(process: process, environment: environment)
        case .pipeline(let members):
            for (i, member) in members.enumerated() { parts.add(process: member, environment: environment, role: "member \(i): ") }
        case .map(let planned):
            parts.add(process: planned.worker, environment: environment)
            let base = parts.key
            // Which shards' output the reducer reads: the stage's, not the shards'.
            if let allowance = planned.allowFailures { parts.parts["setting allow_failures"] = KeyParts.digest("\(allowance)") }
            let map = try finalItems(planned, of: stage)
            let count = map.source.count ?? 0
            var keys: [String] = []
            keys.reserveCapacity(count)
            for shard in 0..<count {
                let item = map.item(at: shard) ?? ""
                let path = item.hasPrefix("/") ? item : plan.workdir + "/" + item
                let contents = item.isEmpty ? "" : cache.digests.digest(of: path) ?? ""
                keys.append(KeyParts.digest(base + "\u{0}" + item + "\u{0}" + contents))
            }
            parts.parts["shards"] = KeyParts.digest(keys.joined(separator: "\n"))
            if let reducer = planned.reduce {
                parts.add(process: reducer, environment: environment, role: "reduce: ")
                do throws(InputError) { try cache.digests.addInputs(stage.cache.reduceInputs, missingAllowed: options.dryRun, to: &parts) } catch {
                    throw StageSetupError(message: error.message)
                }
            }
            // A worker that may write the workdir leaves per-shard changes the store does not
            // keep: its shards always run (the stage as a whole is still cached).
            let workerWrites = planned.worker.policy.fsWritable.contains {
                FileSystem.isInside($0, plan.workdir) || FileSystem.isInside(plan.workdir, $0)
            }
            let storable = !workerWrites && stage.cache.enabled && !options.dryRun
            var shardKeys = RunCache.ShardKeys(keys: keys, storable: storable, reusable: storable
                                               && cache.refusal(of: stage, upstream: ancestors[stage.name] ?? [], options: options) == nil)
            if options.cache.resume && !workerWrites {
                for record in directory.readShardRecords(stage.name)
                where record.status == .succeeded && record.shard >= 0 && record.shard < count && record.key == keys[record.shard] {
                    shardKeys.kept.insert(record.shard)
                }
            }
            let ready = shardKeys
            cache.shards.withLock { $0[stage.name] = ready }
        }
        return parts
    }

    // MARK: Reuse

    /// Puts a stored stage back: its outputs (where the workdir differs), its run directory
    /// files (linked), its record marked `cached`. Any object missing or corrupted fails it.
    func reuse(_ entry: CacheEntry, of stage: PlannedStage, store: CacheStore) -> Result<StageRecord, CacheError> {
        guard var record = entry.record else { return .failure(CacheError("cache entry \(entry.key) holds no stage record")) }
        let tree = OutputTree(workdir: realWorkdir, store: store)
        var restored: [String] = []
        do throws(CacheError) {
            for output in entry.outputs where !tree.holds(output) {
                try tree.restore(output)
                restored.append(output.path)
            }
            try link(entry.files, into: directory.stageDirectory(stage.name), origin: entry.origin,
                     within: RunDirectory.shardsName, store: store)
        } catch {
            return .failure(error)
        }
        let now = Date.now
        record.started = now
        record.ended = now
        record.durationSeconds = 0
        record.attempts = []
        record.attemptCount = 0
        record.reduceAttempts = nil
        record.userCPUSeconds = 0
        record.systemCPUSeconds = 0
        record.peakMemoryBytes = 0
        if let total = record.shards?.total { record.shards?.cached = total }
        var why = "cached (run \(entry.run))"
        if !restored.isEmpty {
            why += "; outputs put back: " + restored.prefix(3).joined(separator: ", ") + (restored.count > 3 ? " (+\(restored.count - 3) more)" : "")
        }
        record.cache = CacheNote(key: entry.key, outcome: .cached, explanation: why, from: entry.run)
        return .success(record)
    }

    /// Links stored run directory files (relative path → digest) under `directory`. Those
    /// under `within` (a subdirectory, or "" for all) are one symlink to the same place in
    /// `origin` while that is still a directory of the producing run: at 10,000 shards the
    /// directories and links per shard cost seconds.
    func link(_ files: [String: String], into directory: String, origin: String?, within: String,
              store: CacheStore) throws(CacheError) {
        var files = files
        let shared = within.isEmpty ? directory : directory + "/" + within
        if let origin, Files.status(shared) == nil,
           let info = Files.status(within.isEmpty ? origin : origin + "/" + within), info.st_mode & S_IFMT == S_IFDIR {
            do {
                try Files.makeDirectories(FileSystem.directory(of: shared))
                try Files.replaceSymlink(shared, to: within.isEmpty ? origin : origin + "/" + within)
                files = files.filter { !within.isEmpty && !$0.key.hasPrefix(within + "/") }
            } catch {
                // Linked file by file below.
            }
        }
        for (relative, digest) in files.sorted(by: { $0.key < $1.key }) {
            let path = directory + "/" + relative
            do { try Files.makeDirectories(FileSystem.directory(of: path)) } catch { throw CacheError("\(error)") }
            try store.link(digest, to: path)
        }
    }

    /// A shard that does not run: kept (`resume`: its record and logs are already here) or
    /// reused from the store (its logs linked, a `cached_from` record appended). Nil: run it.
    func reusedShard(_ shard: Int, of stage: PlannedStage, item: String, log: ShardLog) -> ShardEnd? {
        guard let keys = cache.shards.withLock({ $0[stage.name] }), shard < keys.keys.count else { return nil }
        let reused = ShardEnd(shard: shard, status: .succeeded, last: nil, attempts: 0, userCPUSeconds: 0, systemCPUSeconds: 0,
                              peakMemoryBytes: 0, enforcement: nil, cached: true)
        if keys.kept.contains(shard) { return reused }
        func missed() -> ShardEnd? {
            cache.shards.withLock { s in
                s[stage.name]?.missed += 1
                if (s[stage.name]?.missedItems.count ?? 3) < 3 { s[stage.name]?.missedItems.append(FileSystem.relativeOrAbsolute(item, to: plan.workdir)) }
            }
            return nil
        }
        let key = keys.keys[shard]
        guard keys.reusable, let store = cache.store, let found = store.entry(key) else { return missed() }
        do throws(CacheError) {
            let entry = try found.get()
            try link(entry.files, into: directory.logDirectory(of: stage.name, .shard(shard)), origin: entry.origin,
                     within: "", store: store)
            var record = entry.shardRecord ?? ShardRecord(shard: shard, item: item, status: .succeeded, attempts: [])
            record.shard = shard
            record.attempts = []
            record.key = key
            record.cachedFrom = entry.run
            log.append(record)
            return reused
        } catch {
            events(.warning("stage '\(stage.name)' shard \(shard): \(error); running it"))
            return missed()
        }
    }

    /// The key of a shard, for its record.
    func shardKey(_ shard: Int, of stage: PlannedStage) -> String? {
        cache.shards.withLock { s in s[stage.name].flatMap { shard < $0.keys.count ? $0.keys[shard] : nil } }
    }

    // MARK: Storing

    /// A shard that succeeded: its logs and record, under its key.
    func storeShard(_ record: ShardRecord, of stage: PlannedStage) {
        guard let store = cache.store, let key = record.key, cache.shards.withLock({ $0[stage.name]?.storable }) == true else { return }
        let shardDirectory = directory.logDirectory(of: stage.name, .shard(record.shard))
        do throws(CacheError) {
            var files: [String: String] = [:]
            for stream in RunDirectory.LogStream.allCases {
                let path = directory.log(stream, of: stage.name, .shard(record.shard))
                guard Files.status(path) != nil else { continue }
                files[String(path.dropFirst(shardDirectory.count + 1))] = try store.put(path: path)
            }
            try store.write(CacheEntry(key: key, stage: stage.name, run: directory.id, created: .now, record: nil,
                                       shard: record.shard, shardRecord: record, files: files, origin: shardDirectory, outputs: []))
        } catch {
            events(.warning("stage '\(stage.name)' shard \(record.shard): not cached: \(error)"))
        }
    }

    /// A stage that succeeded: its declared outputs and committed changes, the files of its
    /// run directory entry, its record; then the parts of its key, for `--explain`.
    func storeResult(of stage: PlannedStage, _ record: StageRecord, parts: KeyParts, store: CacheStore) throws(CacheError) {
        if record.changes?.outcome == .kept { throw CacheError("its changes were kept, not committed") }
        if let shards = record.shards, shards.failed > 0 {
            throw CacheError("\(shards.failed) of \(shards.total) shards failed (allow_failures): they run again next time")
        }
        let tree = OutputTree(workdir: realWorkdir, store: store)
        let declared = stage.cache.outputs.map { FileSystem.relativeOrAbsolute($0, to: plan.workdir) }
        var outputs = try tree.snapshot(declared)
        if let missing = outputs.first(where: { $0.kind == .absent && declared.contains($0.path) }) {
            throw CacheError("declared output '\(missing.path)' was not written")
        }
        if record.changes?.outcome == .committed {
            var changed: [String] = []
            var deleted: [String] = []
            for change in committedChanges(of: stage) {
                switch change.kind {
                case "deleted": deleted.append(change.path)
                case "renamed": deleted += change.from.map { [$0] } ?? []; changed.append(change.path)
                default: changed.append(change.path)
                }
            }
            let known = Set(outputs.map(\.path))
            outputs += try tree.snapshot(changed.filter { !known.contains($0) })
            outputs += deleted.filter { !known.contains($0) }.map { OutputFile(path: $0, kind: .absent) }
        }
        var files: [String: String] = [:]
        let stageDirectory = directory.stageDirectory(stage.name)
        for path in ContentDigests.files(under: stageDirectory, intoLinkedDirectories: true) where path != directory.stageRecordPath(stage.name) {
            files[String(path.dropFirst(stageDirectory.count + 1))] = try store.put(path: path)
        }
        try store.write(CacheEntry(key: parts.key, stage: stage.name, run: directory.id, created: .now, record: record,
                                   shard: nil, shardRecord: nil, files: files, origin: stageDirectory, outputs: outputs))
        store.writeLastParts(parts, manifest: plan.manifestPath, stage: stage.name)
    }

    /// The paths of the stage's committed change set (`changes.json`), relative to the workdir.
    func committedChanges(of stage: PlannedStage) -> [CommittedChange] {
        struct File: Decodable { var changes: [CommittedChange] }
        guard let bytes = try? Files.read(directory.changesFile(stage.name, .json)),
              let file = try? JSONDecoder().decode(File.self, from: Data(bytes)) else { return [] }
        return file.changes.filter { !$0.path.hasPrefix("/") }
    }
}

struct CommittedChange: Decodable {
    var kind: String
    var path: String
    var from: String?
}

extension Runner {
    /// `plan --explain`: for each stage, in order, whether a run now would reuse it from the
    /// cache or run it, and why; nothing runs. A stage that would run makes every stage that
    /// needs it run too (`upstream reran`).
    public func explainPlan() -> String {
        var rows = [["STAGE", "WOULD", "WHY"]]
        var keys: [String: String] = [:]
        var rerun = Set<String>()
        for stage in plan.stages {
            var upstream: [String: String] = [:]
            for need in stage.needs { upstream[need] = rerun.contains(need) ? "rerun" : keys[need] ?? "none" }
            let parts: KeyParts
            do { parts = try keyParts(of: stage, upstream: upstream) } catch {
                rows.append([stage.name, "run", "its key is not known yet (\(error.message))"])
                rerun.insert(stage.name)
                continue
            }
            keys[stage.name] = parts.key
            let last = cache.store?.lastParts(manifest: plan.manifestPath, stage: stage.name)
            let stored = cache.store.map { $0.entry(parts.key) != nil } ?? false
            if let refusal = cache.refusal(of: stage, upstream: ancestors[stage.name] ?? [], options: options) {
                rows.append([stage.name, "run", refusal])
                rerun.insert(stage.name)
            } else if stored {
                rows.append([stage.name, "reuse", "cached"])
            } else {
                var why = last.map { parts.changes(since: $0, workdir: plan.workdir) } ?? "never ran"
                if let shards = cache.shards.withLock({ $0[stage.name] }), let store = cache.store, shards.reusable {
                    let missing = shards.keys.indices.filter { store.entry(shards.keys[$0]) == nil }
                    let items = missing.prefix(3).map { shard in
                        FileSystem.relativeOrAbsolute(Self.item(shard, of: stage) ?? String(shard), to: plan.workdir)
                    }
                    why += "; \(missing.count) of \(shards.keys.count) shards would run" + (items.isEmpty ? "" : ": " + items.joined(separator: ", "))
                        + (missing.count > items.count ? ", …" : "")
                }
                rows.append([stage.name, "run", why])
                rerun.insert(stage.name)
            }
        }
        cache.shards.withLock { $0 = [:] }
        return RunSummary.table(rows)
    }

    /// The item of a map stage's shard as planned (glob matches as they are now).
    static func item(_ shard: Int, of stage: PlannedStage) -> String? {
        guard case .map(let map) = stage.work else { return nil }
        return map.item(at: shard)
    }
}
