#if canImport(Glibc)
import Glibc
#endif

/// `shards.jsonl`, opened once per map stage: each shard's record is one line written with
/// a single write(2) on an O_APPEND descriptor, so concurrent shards never interleave.
final class ShardLog: Sendable {
    private let fd: Int32
    let path: String

    init(path: String) throws(StageSetupError) {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StageSetupError(message: "cannot create '\(path)': \(String(cString: strerror(errno)))") }
    }

    func append(_ record: ShardRecord) {
        try? RunFiles.writeAll(fd, RecordCoding.encode(record, pretty: false), path: path)
    }

    /// fsync, then close.
    func close() {
        fsync(fd)
        Glibc.close(fd)
    }
}
