import Foundation
import SandlockCore

/// Every entry of a directory tree with its type, mode, size, contents digest or link
/// target, and optionally its modification time: equal snapshots mean equal trees.
public enum TreeSnapshot {
    public static func take(_ root: String, times: Bool = false) -> [String: String] {
        var entries: [String: String] = [:]
        func visit(_ relative: String) {
            let path = relative.isEmpty ? root : root + "/" + relative
            var info = stat()
            guard lstat(path, &info) == 0 else { return }
            var line = "mode=\(String(info.st_mode, radix: 8))"
            if times { line += " mtime=\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)" }
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                let data = FileManager.default.contents(atPath: path) ?? Data()
                line += " size=\(info.st_size) sha256=\(SHA256.hex(of: [UInt8](data)))"
            case S_IFLNK:
                line += " target=\((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?")"
            case S_IFDIR:
                for name in ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() {
                    visit(relative.isEmpty ? name : relative + "/" + name)
                }
            default: break
            }
            entries[relative.isEmpty ? "." : relative] = line
        }
        visit("")
        return entries
    }

    /// Writes files (`"dir/name": "contents"`) under `root`, creating directories.
    public static func write(_ files: [String: String], under root: String) throws {
        for (path, contents) in files {
            let url = URL(fileURLWithPath: root + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try contents.write(to: url, atomically: false, encoding: .utf8)
        }
    }
}
