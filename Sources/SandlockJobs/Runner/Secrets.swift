#if canImport(Glibc)
import Glibc
#endif
import SandlockCore

/// `secrets:`: variables a stage gets from the runner's environment. Their values live only
/// in `RunOptions.secrets` and the environment of the stage's processes (added at the
/// spawn, after the policy was recorded); when the stage ends, every file of its run
/// directory and its record's message are masked (`***`).
public enum Secrets {
    /// The values of the secrets of the `stages` selected (all when nil), from `lookup`;
    /// throws naming every one that is not set.
    public static func values(for plan: Plan, stages: Set<String>? = nil, lookup: (String) -> String?) throws(SecretsError) -> [String: String] {
        var values: [String: String] = [:], missing: [String] = []
        for stage in plan.stages where stages?.contains(stage.name) ?? true {
            for name in stage.secrets {
                if let value = lookup(name) { values[name] = value } else { missing.append("'\(name)' (stage '\(stage.name)')") }
            }
        }
        guard missing.isEmpty else {
            throw SecretsError(description: "secret \(missing.joined(separator: ", ")) is not set in the environment; export it before running, or remove it from the stage's secrets:")
        }
        return values
    }
}

public struct SecretsError: Error, CustomStringConvertible {
    public var description: String
}

extension Runner {
    /// The values of the stage's `secrets:`.
    func secrets(of stage: PlannedStage) -> [String: String] {
        Dictionary(stage.secrets.compactMap { name in options.secrets[name].map { (name, $0) } }, uniquingKeysWith: { a, _ in a })
    }

    /// Masks the stage's secrets in its run directory (logs, shard records, change sets) and
    /// in its record's message. A file that cannot be masked is removed, saying so.
    func maskSecrets(of stage: PlannedStage, in record: inout StageRecord) {
        let mask = SecretMask(secrets(of: stage).values)
        guard !mask.isEmpty else { return }
        record.message = record.message.map(mask.masked)
        for failure in mask.maskFiles(under: directory.stageDirectory(stage.name)) {
            events(.warning("could not mask the secrets of stage '\(stage.name)' in \(failure); removed it"))
        }
    }
}

/// Replaces secret values with `***`, in text and in files (streamed, in constant memory).
struct SecretMask {
    /// Longest first, so a secret containing another is masked whole.
    private let secrets: [[UInt8]]
    /// The distinct first bytes of the secrets: memchr(3) finds where one may start.
    private let firstBytes: [UInt8]
    private let longest: Int
    private static let replacement = Array("***".utf8)
    private static let chunk = 1 << 20

    /// A multi-line value is also masked line by line (a tool may print one line of it).
    init(_ values: some Sequence<String>) {
        let pieces = values.flatMap { [$0] + $0.split(separator: "\n").map(String.init) }.filter { !$0.isEmpty }
        secrets = Set(pieces).map { Array($0.utf8) }.sorted { $0.count > $1.count }
        firstBytes = Array(Set(secrets.map { $0[0] }))
        longest = secrets.first?.count ?? 0
    }

    var isEmpty: Bool { secrets.isEmpty }

    func masked(_ text: String) -> String {
        var out: [UInt8] = []
        _ = Array(text.utf8).withUnsafeBufferPointer { mask($0, final: true, into: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Masks `bytes` into `out` up to where a secret could still run past the end (all of
    /// it when `final`); returns how many bytes were consumed and whether any was masked.
    /// Unmatched spans are copied whole; only where a secret's first byte occurs is compared.
    private func mask(_ bytes: UnsafeBufferPointer<UInt8>, final: Bool, into out: inout [UInt8]) -> (consumed: Int, masked: Bool) {
        guard let base = bytes.baseAddress else { return (0, false) }
        let count = bytes.count
        let stop = final ? count : max(0, count - longest + 1)
        var i = 0, copied = 0, masked = false
        // The next occurrence of each first byte at or after `i` (count: none before `stop`).
        var next = [Int](repeating: -1, count: firstBytes.count)
        while i < stop {
            var candidate = stop
            for k in firstBytes.indices {
                if next[k] < i {
                    let found = memchr(base + i, Int32(firstBytes[k]), stop - i)
                    next[k] = found.map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) - base } ?? stop
                }
                candidate = min(candidate, next[k])
            }
            guard candidate < stop else { break }
            i = candidate
            if let secret = secrets.first(where: { i + $0.count <= count && memcmp(base + i, $0, $0.count) == 0 }) {
                out.append(contentsOf: UnsafeBufferPointer(start: base + copied, count: i - copied))
                out += Self.replacement
                i += secret.count
                copied = i
                masked = true
            } else {
                i += 1
            }
        }
        i = max(i, stop)
        out.append(contentsOf: UnsafeBufferPointer(start: base + copied, count: i - copied))
        return (i, masked)
    }

    /// Masks every regular file below `directory` (symlinks are not followed); returns the
    /// files that could not be masked (and were removed).
    func maskFiles(under directory: String) -> [String] {
        var failed: [String] = []
        for name in (try? Directory.entries(atPath: directory, names: .lossy)) ?? [] {
            let path = directory + "/" + name
            guard let info = Files.status(path) else { continue }
            if info.st_mode & S_IFMT == S_IFDIR {
                failed += maskFiles(under: path)
            } else if info.st_mode & S_IFMT == S_IFREG, !mask(file: path) {
                unlink(path)
                failed.append(path)
            }
        }
        return failed
    }

    /// Rewrites `path` through a temporary file beside it when a secret occurs in it.
    private func mask(file path: String) -> Bool {
        let temporary = path + ".masking"
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunk, alignment: 1)
        defer { buffer.deallocate() }
        do {
            let input = try FileDescriptor(opening: path, flags: O_RDONLY | O_NOFOLLOW)
            let output = try FileDescriptor(opening: temporary, flags: O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: 0o644)
            var carry: [UInt8] = [], masked = false
            while true {
                let count = try input.read(into: buffer)
                carry += buffer[0..<count]
                var out: [UInt8] = []
                let (consumed, found) = carry.withUnsafeBufferPointer { mask($0, final: count == 0, into: &out) }
                masked = masked || found
                try output.writeAll(out)
                carry.removeFirst(consumed)
                if count == 0 { break }
            }
            if masked { return rename(temporary, path) == 0 }
            unlink(temporary)
            return true
        } catch {
            unlink(temporary)
            return false
        }
    }
}
