#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// A run's directory, `<workdir>/.sandlock-jobs/runs/<run-id>/`:
///
///     run.json                         the run (manifest, sha256, plan, status, command line)
///     stages/<stage>/result.json       written atomically when the stage ends
///     stages/<stage>/stdout.log        command stages, pipelines (last member), map reducers
///     stages/<stage>/stderr.log
///     stages/<stage>/shards.jsonl      map stages: one shard record per line, as shards end
///     stages/<stage>/shards/<n>/{stdout.log,stderr.log}
///     stages/<stage>/members/<i>/{stderr.log}
///
/// and `<workdir>/.sandlock-jobs/runs/latest`, a symlink to the newest run. Records are
/// written to a temp file, fsync'ed and renamed over the final name, so a runner killed at
/// any moment leaves every record either absent or complete. Shard records are lines
/// appended with one write(2) each (a file per shard would cost an inode per shard: at
/// 1,000 shards/s inode allocation shows); a reader ignores a torn last line.
public struct RunDirectory: Sendable {
    /// Absolute path of the run directory.
    public let path: String
    public let id: String

    public init(path: String) {
        self.path = path
        id = String(path.split(separator: "/").last ?? "")
    }

    /// `<workdir>/.sandlock-jobs/runs`.
    public static func runsRoot(workdir: String) -> String { workdir + "/.sandlock-jobs/runs" }

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
        let run = RunDirectory(path: path)
        // `latest` is the newest run of the workdir's history; a run directory chosen
        // elsewhere (`--run-dir`) is not part of it.
        if FileSystem.directory(of: path) == root {
            try RunFiles.pointSymlink(root + "/latest", to: run.id)
        }
        return run
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

    public var runRecordPath: String { path + "/run.json" }
    public func stageDirectory(_ stage: String) -> String { path + "/stages/" + stage }
    public func shardDirectory(_ stage: String, _ shard: Int) -> String { stageDirectory(stage) + "/shards/\(shard)" }
    public func memberDirectory(_ stage: String, _ member: Int) -> String { stageDirectory(stage) + "/members/\(member)" }
    /// A copy-on-write stage's change set: `changes.txt` (A/M/D/R lines), `changes.json`, `changes.diff`.
    public func changesFile(_ stage: String, _ format: ChangesFormat) -> String {
        stageDirectory(stage) + "/changes." + format.rawValue
    }

    public enum ChangesFormat: String, Sendable {
        case summary = "txt", json, diff
    }

    /// Path relative to the run directory.
    func relative(_ absolute: String) -> String {
        absolute.hasPrefix(path + "/") ? String(absolute.dropFirst(path.count + 1)) : absolute
    }

    // MARK: Records

    public func writeRunRecord(_ record: RunRecord) throws(RunFileError) {
        try RunFiles.writeAtomically(RecordCoding.encode(record), to: runRecordPath, sync: true)
    }

    public func writeStageRecord(_ record: StageRecord) throws(RunFileError) {
        let dir = stageDirectory(record.stage)
        try RunFiles.makeDirectories(dir)
        try RunFiles.writeAtomically(RecordCoding.encode(record), to: dir + "/result.json", sync: true)
    }

    public func readRunRecord() throws(RunFileError) -> RunRecord {
        try RecordCoding.decode(RunRecord.self, path: runRecordPath)
    }

    /// The stage's record, or nil when the stage has not ended (or never ran).
    public func readStageRecord(_ stage: String) -> StageRecord? {
        try? RecordCoding.decode(StageRecord.self, path: stageDirectory(stage) + "/result.json")
    }

    /// `stages/<stage>/shards.jsonl`.
    public func shardRecordsPath(_ stage: String) -> String { stageDirectory(stage) + "/shards.jsonl" }

    /// Every shard record of a stage, in the order the shards ended (complete lines only).
    public func readShardRecords(_ stage: String) -> [ShardRecord] {
        guard let bytes = try? FileSystem.bytes(shardRecordsPath(stage)) else { return [] }
        return bytes.split(separator: UInt8(ascii: "\n")).compactMap { RecordCoding.decode(ShardRecord.self, line: $0) }
    }

    /// A shard's record, or nil when it has not ended.
    public func readShardRecord(_ stage: String, _ shard: Int) -> ShardRecord? {
        readShardRecords(stage).last { $0.shard == shard }
    }

    // MARK: History

    /// Run directories under a runs root, newest first (by id, which starts with the time).
    public static func list(root: String) -> [RunDirectory] {
        RunFiles.entries(of: root).filter { $0 != "latest" && !$0.hasPrefix(".") }
            .sorted(by: >).map { RunDirectory(path: root + "/" + $0) }
            .filter { FileSystem.isDirectory($0.path) == true }
    }

    /// `latest`, a run id, or a path to a run directory. With `manifest`, `latest` is the
    /// newest run of that manifest (several manifests may share a workdir).
    public static func find(_ name: String, root: String, manifest: String? = nil) -> RunDirectory? {
        if name.contains("/"), FileSystem.isDirectory(name) == true {
            return RunDirectory(path: FileSystem.absolute(name, base: FileSystem.currentDirectory))
        }
        if name == "latest", let manifest {
            return list(root: root).first { (try? $0.readRunRecord())?.manifest == manifest }
        }
        if name == "latest" {
            guard let target = RunFiles.readSymlink(root + "/latest") else { return list(root: root).first }
            return RunDirectory(path: target.hasPrefix("/") ? target : root + "/" + target)
        }
        let candidate = root + "/" + name
        if FileSystem.isDirectory(candidate) == true { return RunDirectory(path: candidate) }
        // A unique prefix of an id is enough.
        let matches = list(root: root).filter { $0.id.hasPrefix(name) }
        return matches.count == 1 ? matches[0] : nil
    }
}

/// A file operation in the run directory that failed.
public struct RunFileError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var errno: Int32

    public var description: String { "\(operation) '\(path)': \(String(cString: strerror(errno)))" }
}

/// JSON of the records: sorted keys, ISO 8601 times with milliseconds.
enum RecordCoding {
    static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func encoder(pretty: Bool = true) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(utcText(date))
        }
        return encoder
    }

    static func encode<T: Encodable>(_ value: T, pretty: Bool = true) -> [UInt8] {
        // Records hold only strings, numbers and dates: encoding cannot fail.
        var bytes = (try? Array(encoder(pretty: pretty).encode(value))) ?? Array("{}".utf8)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// `2026-11-29T20:23:33.042Z` from gmtime_r: Foundation's formatter looks the local
    /// time zone up (readlink /etc/localtime) on every call, which shows at 1,000 shards/s.
    static func utcText(_ date: Date) -> String {
        let since1970 = date.timeIntervalSince1970
        var seconds = time_t(since1970.rounded(.down))
        let milliseconds = min(999, Int(((since1970 - Double(seconds)) * 1000).rounded(.down)))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T" +
            "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2)).\(pad(milliseconds, 3))Z"
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            return try timeFormat.parse(text)
        }
        return decoder
    }

    static func decode<T: Decodable>(_ type: T.Type, path: String) throws(RunFileError) -> T {
        let bytes: [UInt8]
        do { bytes = try FileSystem.bytes(path) } catch { throw RunFileError(path: path, operation: "read", errno: error.errno) }
        do { return try decoder().decode(type, from: Data(bytes)) } catch {
            throw RunFileError(path: path, operation: "decode", errno: EINVAL)
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, line: ArraySlice<UInt8>) -> T? {
        try? decoder().decode(type, from: Data(line))
    }
}
