#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// getdents64 answered by the supervisor: with the entries sorted by name
/// (`deterministic_dirs`, the same listing in every run whatever the filesystem's order),
/// and/or filtered (a virtual /proc lists only the sandbox's own processes).
///
/// The first call on a directory (its file offset is 0: fresh, or rewound) reads every entry
/// through a duplicate of the process's descriptor (pidfd_getfd, same open file), and serves
/// them in order; later calls continue from where the last one stopped.
struct DirectoryListings: Sendable {
    /// How to present one directory: nil leaves the call to the kernel.
    struct Presentation {
        var sorted: Bool
        var keep: ((String) -> Bool)?
    }

    private struct Listing {
        var records: [[UInt8]]
        var next = 0
    }

    private struct Key: Hashable {
        var pid: pid_t
        var fd: Int32
    }

    private var listings: [Key: Listing] = [:]
    private var pidfds: [pid_t: SharedDescriptor] = [:]

    /// Answers getdents64(fd, buffer, count) for `pid`: bytes written, 0 at the end, or nil
    /// when the descriptor cannot be read (then the kernel answers the call itself).
    mutating func read(pid: pid_t, fd: Int32, buffer: UInt64, count: Int, stillPending: () -> Bool,
                       presentation: (borrowing FileDescriptor) -> Presentation?) -> Verdict? {
        guard let directory = duplicate(fd, of: pid) else { return nil }
        let key = Key(pid: pid, fd: fd)
        if lseek(directory.rawValue, 0, SEEK_CUR) == 0 || listings[key] == nil {
            guard let how = presentation(directory), let records = Self.records(directory, how) else {
                listings[key] = nil
                return nil
            }
            listings[key] = Listing(records: records)
        }
        var listing = listings[key]!
        var output: [UInt8] = []
        while listing.next < listing.records.count, output.count + listing.records[listing.next].count <= count {
            output += listing.records[listing.next]
            listing.next += 1
        }
        listings[key] = listing
        if output.isEmpty && listing.next < listing.records.count { return .fail(EINVAL) } // buffer too small
        guard stillPending() else { return .fail(EINTR) }
        if !output.isEmpty, !ChildMemory.write(pid, buffer, output) { return .fail(EFAULT) }
        return .value(Int64(output.count))
    }

    typealias Verdict = SupervisorState.Verdict

    /// The sandbox is over.
    mutating func close() {
        closePidfds()
        listings = [:]
    }

    /// Only the pidfd cache: a listing in progress must keep its place (its directory's
    /// offset is already at the end, so it could not be read again).
    private mutating func closePidfds() {
        pidfds = [:]
    }

    private mutating func duplicate(_ fd: Int32, of pid: pid_t) -> FileDescriptor? {
        if pidfds[pid] == nil {
            let pidfd = csl_pidfd_open(pid)
            guard pidfd >= 0 else { return nil }
            if pidfds.count > 64 { closePidfds() }
            pidfds[pid] = SharedDescriptor(FileDescriptor(adopting: pidfd))
        }
        let duplicate = csl_pidfd_getfd(pidfds[pid]!.rawValue, fd)
        return duplicate >= 0 ? FileDescriptor(adopting: duplicate) : nil
    }

    /// Every linux_dirent64 record of the directory as presented, with d_off renumbered.
    private static func records(_ directory: borrowing FileDescriptor, _ how: Presentation) -> [[UInt8]]? {
        var entries: [(name: [UInt8], record: [UInt8])] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let got = buffer.withUnsafeMutableBytes { csl_getdents64(directory.rawValue, $0.baseAddress, 65536) }
            if got < 0 { return nil }
            if got == 0 { break }
            var offset = 0
            while offset < got {
                let length = Int(buffer[offset + 16]) | Int(buffer[offset + 17]) << 8
                let record = Array(buffer[offset..<offset + length])
                let name = Array(record[19...].prefix { $0 != 0 })
                if how.keep?(String(decoding: name, as: UTF8.self)) ?? true { entries.append((name, record)) }
                offset += length
            }
        }
        if how.sorted { entries.sort { $0.name.lexicographicallyPrecedes($1.name) } }
        return entries.enumerated().map { index, entry in
            var record = entry.record
            withUnsafeBytes(of: Int64(index + 1).littleEndian) { record.replaceSubrange(8..<16, with: $0) }
            return record
        }
    }
}
