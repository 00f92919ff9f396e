#if canImport(Glibc)
import Glibc
#endif
import SandlockSystem

/// `shards.jsonl`, opened once per map stage: each shard's record is one line written with
/// a single write(2) on an O_APPEND descriptor, so concurrent shards never interleave.
/// Closed when the stage's map loop lets go of it; `sync()` first makes the records durable.
final class ShardLog: Sendable {
    private let file: FileDescriptor
    let path: String

    init(path: String) throws(StageSetupError) {
        self.path = path
        do { file = try FileDescriptor(opening: path, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o644) } catch {
            throw StageSetupError(message: "cannot create '\(path)': \(error)")
        }
    }

    /// Appends one record line (a torn last line is ignored by readers).
    func append(_ record: ShardRecord) {
        try? file.writeAll(RecordCoding.encode(record, pretty: false))
    }

    /// fsync(2): every record appended so far is on disk.
    func sync() {
        try? file.sync()
    }
}
